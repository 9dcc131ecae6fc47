/* Unit tests of the /metrics text (collector/metrics.c): label escaping,
 * and a whole exposition rendered from counters and a real temporary
 * SQLite store. The HTTP side is tested end to end by
 * tests/integration/test_metrics.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "metrics.h"

static void escape_is(const char *in, const char *want)
{
    char out[128];
    size_t n = metrics_escape_label(in, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_escape(void **state)
{
    (void)state;
    escape_is("", "");
    escape_is("clinic-a", "clinic-a");
    escape_is("a\"b", "a\\\"b");
    escape_is("back\\slash", "back\\\\slash");
    escape_is("two\nlines", "two\\nlines");
    escape_is("\\\"\n", "\\\\\\\"\\n");
    /* Other bytes, UTF-8 and tabs included, pass unchanged. */
    escape_is("K\xc3\xb6ln\tx", "K\xc3\xb6ln\tx");
}

static void test_escape_truncates(void **state)
{
    char out[4];
    (void)state;
    /* Needs 6 bytes ("a\\\"b\\n" is a \" b \n); keeps what fits, NUL-terminated. */
    assert_int_equal(metrics_escape_label("a\"b\n", out, sizeof out), 6);
    assert_string_equal(out, "a\\\"");
    assert_int_equal(metrics_escape_label("abc", NULL, 0), 3);
}

typedef struct fixture {
    char dir[64];
    char path[128];
    sqlite3 *db;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/test_metrics.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/fleet.db", f->dir);
    if (db_open(f->path, &f->db, err, sizeof err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[160];
    sqlite3_close(f->db);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static char *render(sqlite3 *db, const metrics_counters *c)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(db, c, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("missing line '%s' in:\n%s", want, text);
}

static void test_render(void **state)
{
    fixture *f = *state;
    metrics_counters c;
    metrics_counters_init(&c);
    atomic_store(&c.records_stored, 42);
    atomic_store(&c.messages_received, 7);
    exec_ok(f->db,
            "INSERT INTO devices(device_id, clinic, added_at) VALUES"
            " ('dev-a', 'clinic \"north\"', '2026-01-01T00:00:00.000Z'),"
            " ('dev-old', 'c', '2026-01-01T00:00:00.000Z');"
            "UPDATE devices SET retired_at = '2026-02-01T00:00:00.000Z' WHERE device_id = 'dev-old';"
            "INSERT INTO device_state VALUES ('dev-a', 17, 'h', '2026-03-02T10:00:00.500Z'),"
            " ('dev-old', 3, 'h', '2026-01-02T00:00:00.000Z');"
            "INSERT INTO quarantine_counts VALUES ('records[].strokes: must not be negative', 3);"
            "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence, raised_at, cleared_at)"
            " VALUES ('R1', 'critical', 'dev-a', 'clinic \"north\"', 'x', 'm', '{}', 't', NULL),"
            " ('R1', 'critical', 'dev-a', 'clinic \"north\"', 'y', 'm', '{}', 't', NULL),"
            " ('R3', 'maintenance', 'dev-a', 'clinic \"north\"', 'z', 'm', '{}', 't', 't2');");

    char *text = render(f->db, &c);
    has(text, "# HELP smp_records_stored_total ");
    has(text, "# TYPE smp_records_stored_total counter\nsmp_records_stored_total 42\n");
    has(text, "\nsmp_messages_received_total 7\n");
    has(text, "\nsmp_commit_failures_total 0\n");
    has(text, "\nsmp_quarantine_total{reason=\"records[].strokes: must not be negative\"} 3\n");
    has(text, "# TYPE smp_alerts_open gauge\n");
    has(text, "\nsmp_alerts_open{rule=\"R1\",severity=\"critical\",clinic=\"clinic \\\"north\\\"\"} 2\n");
    /* 2026-03-02T10:00:00Z */
    has(text, "\nsmp_device_last_seen_seconds{device=\"dev-a\",clinic=\"clinic \\\"north\\\"\"} 1772445600\n");
    has(text, "\nsmp_device_acked_seq{device=\"dev-a\",clinic=\"clinic \\\"north\\\"\"} 17\n");
    has(text, "\nsmp_metrics_db_ok 1\n");
    /* Cleared alerts and retired devices are left out. */
    assert_null(strstr(text, "R3"));
    assert_null(strstr(text, "dev-old"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
}

static void test_render_without_db(void **state)
{
    metrics_counters c;
    (void)state;
    metrics_counters_init(&c);
    char *text = render(NULL, &c);
    has(text, "\nsmp_records_stored_total 0\n");
    has(text, "\nsmp_metrics_db_ok 0\n");
    assert_null(strstr(text, "smp_alerts_open"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_truncates),
        cmocka_unit_test_setup_teardown(test_render, setup, teardown),
        cmocka_unit_test(test_render_without_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
