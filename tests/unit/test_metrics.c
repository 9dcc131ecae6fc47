/* Unit tests of the /metrics text (collector/metrics.c): label escaping,
 * and a whole exposition rendered from counters and a real temporary store
 * (SQLite, or PostgreSQL when SMP_TEST_PG names a test cluster: testdb.h).
 * The HTTP side is tested end to end by tests/integration/test_metrics.sh. */
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
#include "reason.h"
#include "testdb.h"

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
    /* Bytes that are not UTF-8 become U+FFFD: Prometheus refuses a scrape
     * with one invalid label value (a reason cut inside a character did). */
    escape_is("ab\xc3", "ab\xef\xbf\xbd");
    escape_is("\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd");
    escape_is("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");       /* overlong / */
    escape_is("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
}

static void test_escape_truncates(void **state)
{
    char out[4];
    (void)state;
    /* Needs 6 bytes ("a\\\"b\\n" is a \" b \n); keeps what fits, NUL-terminated. */
    assert_int_equal(metrics_escape_label("a\"b\n", out, sizeof out), 6);
    assert_string_equal(out, "a\\\"");
    assert_int_equal(metrics_escape_label("abc", NULL, 0), 3);
    /* Never half an escape or half a character. */
    assert_int_equal(metrics_escape_label("ab\"", out, sizeof out), 4);
    assert_string_equal(out, "ab");
    assert_int_equal(metrics_escape_label("a\xe2\x82\xac", out, sizeof out), 4);
    assert_string_equal(out, "a");
}

typedef struct fixture {
    char target[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[600];

    testdb_new(f->target, sizeof f->target);
    /* What the collector's server opens: the same checks, read-only. */
    if (db_open_readonly(f->target, &f->db, err, sizeof err) != 0)
        fail_msg("%s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sqldb_close(f->db);
    testdb_drop(f->target);
    free(f);
    return 0;
}

/* Writes through a connection of its own: the fixture's is read-only. */
static void exec_ok(fixture *f, const char *sql)
{
    sqldb *db = testdb_open(f->target);
    testdb_exec(db, sql);
    sqldb_close(db);
}

#define COLLECTOR "smp-collector-1"

static char *render(sqldb *db, const metrics_counters *c)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(db, c, COLLECTOR, &text, &len), 0);
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
    atomic_store(&c.messages_waiting, 5);
    exec_ok(f,
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
    /* This process's own counters carry its name: summed over collectors
     * they add up. */
    has(text, "# HELP smp_records_stored_total ");
    has(text, "# TYPE smp_records_stored_total counter\n"
              "smp_records_stored_total{collector=\"" COLLECTOR "\"} 42\n");
    has(text, "\nsmp_messages_received_total{collector=\"" COLLECTOR "\"} 7\n");
    has(text, "\nsmp_commit_failures_total{collector=\"" COLLECTOR "\"} 0\n");
    has(text, "\nsmp_commit_conflicts_total{collector=\"" COLLECTOR "\"} 0\n");
    has(text, "\nsmp_storage_failing{collector=\"" COLLECTOR "\"} 0\n");
    has(text, "# TYPE smp_messages_waiting gauge\n"
              "smp_messages_waiting{collector=\"" COLLECTOR "\"} 5\n");
    /* The database's families are the fleet's, the same from every
     * collector: their HELP says to take max, not sum. */
    has(text, "# HELP smp_alerts_open Alerts not cleared, by rule, severity and clinic. Fleet-wide");
    has(text, "# HELP smp_device_acked_seq Contiguous chain head acked to the device (devices not "
              "retired). Fleet-wide");
    has(text, "# HELP smp_quarantine_total Quarantined messages by reason code (the quarantine "
              "table has each reason in full). Fleet-wide");
    assert_null(strstr(text, "smp_alerts_open{collector"));
    has(text, "\nsmp_quarantine_total{reason=\"negative\"} 3\n");
    has(text, "\nsmp_quarantine_total{reason=\"not_json\"} 0\n");
    has(text, "# TYPE smp_alerts_open gauge\n");
    has(text, "\nsmp_alerts_open{rule=\"R1\",severity=\"critical\",clinic=\"clinic \\\"north\\\"\"} 2\n");
    /* 2026-03-02T10:00:00Z */
    has(text, "\nsmp_device_last_seen_seconds{device=\"dev-a\",clinic=\"clinic \\\"north\\\"\"} 1772445600\n");
    has(text, "\nsmp_device_acked_seq{device=\"dev-a\",clinic=\"clinic \\\"north\\\"\"} 17\n");
    has(text, "\nsmp_metrics_db_ok{collector=\"" COLLECTOR "\"} 1\n");
    /* Cleared alerts and retired devices are left out. */
    assert_null(strstr(text, "R3"));
    assert_null(strstr(text, "dev-old"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
}

/* Count the lines of text that start with prefix. */
static int lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

/* Regression: quarantine reasons used to be label values. 2000 invented
 * field names made 2000 series, and one reason cut inside a UTF-8
 * character broke every scrape after it. Now the label is a fixed code:
 * the same REASON_COUNT series whatever the table holds. */
static void test_quarantine_labels_are_fixed_codes(void **state)
{
    fixture *f = *state;
    metrics_counters c;
    sqldb *db = testdb_open(f->target);
    sqldb_stmt *st;
    char reason[160];
    /* A reason cut inside a UTF-8 character (SQLite keeps such text; a
     * PostgreSQL UTF8 database refuses it, so there it is only SQLite's
     * case). */
    static const char cut[] = "records[].a\xc3: unknown field for this record type";
    static const struct { const char *reason; int64_t n; } rows[] = {
        {"records[].x\"} 9\nevil 1: must be a number: required", 5},
        {"payload: not valid JSON", 4},
        {"device: dev-x is not registered; add it with smpctl device add", 6},
        {"records[].ts: more than 86400 s ahead of the receive time", 1},
        {"something a newer collector says", 7},
    };

    metrics_counters_init(&c);

    assert_int_equal(sqldb_prepare(db, "INSERT INTO quarantine_counts VALUES (?1, ?2)", &st), 0);
    for (int i = 0; i < 2001 + (int)(sizeof rows / sizeof rows[0]); i++) {
        int64_t n = 1;
        if (i < 2000) {
            snprintf(reason, sizeof reason, "records[].f%d: unknown field for this record type", i);
        } else if (i == 2000) {
            snprintf(reason, sizeof reason, "%s",
                     testdb_is_postgres() ? "records[].a\xc3\xa4: unknown field for this record type"
                                          : cut);
            n = 2;
        } else {
            snprintf(reason, sizeof reason, "%s", rows[i - 2001].reason);
            n = rows[i - 2001].n;
        }
        assert_int_equal(sqldb_bind_text(st, 1, reason), 0);
        assert_int_equal(sqldb_bind_int64(st, 2, n), 0);
        assert_int_equal(sqldb_step(st), 0);
    }
    sqldb_finalize(st);
    sqldb_close(db);

    char *text = render(f->db, &c);
    assert_int_equal(lines_starting(text, "smp_quarantine_total{"), REASON_COUNT);
    has(text, "\nsmp_quarantine_total{reason=\"unknown_field\"} 2002\n");
    has(text, "\nsmp_quarantine_total{reason=\"missing_field\"} 5\n");
    has(text, "\nsmp_quarantine_total{reason=\"not_json\"} 4\n");
    has(text, "\nsmp_quarantine_total{reason=\"unregistered_device\"} 6\n");
    has(text, "\nsmp_quarantine_total{reason=\"future_ts\"} 1\n");
    has(text, "\nsmp_quarantine_total{reason=\"other\"} 7\n");
    assert_null(strstr(text, "evil"));
    assert_null(strstr(text, "dev-x"));
    free(text);
}

/* Every reason text the validators write maps to its code, and a field
 * name cannot move a text to another code. */
static void test_reason_codes_of_texts(void **state)
{
    static const struct { const char *text; reason_code code; } cases[] = {
        {"topic: not smp/v1/dev/<device>/events", REASON_TOPIC},
        {"device: dev-1 is retired", REASON_RETIRED},
        {"payload: larger than 256 KiB", REASON_TOO_LARGE},
        {"payload: contains a NUL byte", REASON_BAD_ENCODING},
        {"payload: not valid UTF-8", REASON_BAD_ENCODING},
        {"records[].lot: not valid UTF-8", REASON_BAD_TEXT},
        {"payload: contains a \\u0000 escape", REASON_BAD_ENCODING},
        {"payload: nested deeper than 4 levels", REASON_TOO_DEEP},
        {"payload: must be a JSON object", REASON_NOT_OBJECT},
        {"records[]: record must be a JSON object", REASON_NOT_OBJECT},
        {"v: unsupported version (expected 1)", REASON_BAD_VERSION},
        {"device: device id must be 3..64 characters, got 2", REASON_BAD_DEVICE_ID},
        {"device: device id may not start with 'smp-' (reserved for fleet services)",
         REASON_BAD_DEVICE_ID},
        {"device: device id x: unknown field in batch", REASON_UNKNOWN_FIELD},
        {"device: does not match the device of the topic", REASON_DEVICE_MISMATCH},
        {"records: must hold 1..64 records", REASON_BAD_RECORD_COUNT},
        {"records[].strokes: duplicate field", REASON_DUPLICATE_FIELD},
        {"records[].type: unknown record type", REASON_UNKNOWN_TYPE},
        {"records: must be an array", REASON_BAD_TYPE},
        {"records[].strokes: must be an integer", REASON_NOT_EXACT},
        {"records[].setpoint_c: at most one decimal place", REASON_NOT_EXACT},
        {"records[].seq: out of range", REASON_OUT_OF_RANGE},
        {"records[].strokes: must be a finite number", REASON_OUT_OF_RANGE},
        {"records[].lot: longer than 128 bytes", REASON_BAD_TEXT},
        {"records[].client_ref: must start with A-Z a-z 0-9", REASON_BAD_CHARSET},
        {"records[].client_ref: may hold only A-Z a-z 0-9 . _ : / -", REASON_BAD_CHARSET},
        {"records[].kind: not one of the allowed values", REASON_NOT_ALLOWED},
        {"records[].sig: must be base64", REASON_BAD_FORMAT},
        {"records[].x: must be base64: unknown field for this record type", REASON_UNKNOWN_FIELD},
        {"", REASON_OTHER},
        {NULL, REASON_OTHER},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (reason_code_of(cases[i].text) != cases[i].code)
            fail_msg("'%s' -> %s, want %s", cases[i].text ? cases[i].text : "(null)",
                     reason_code_name(reason_code_of(cases[i].text)),
                     reason_code_name(cases[i].code));
    }
    /* names: distinct, Prometheus-safe */
    for (int a = 0; a < REASON_COUNT; a++) {
        for (const char *p = reason_code_name((reason_code)a); *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int b = a + 1; b < REASON_COUNT; b++)
            assert_string_not_equal(reason_code_name((reason_code)a), reason_code_name((reason_code)b));
    }
}

static void test_render_without_db(void **state)
{
    metrics_counters c;
    (void)state;
    metrics_counters_init(&c);
    char *text = render(NULL, &c);
    has(text, "\nsmp_records_stored_total{collector=\"" COLLECTOR "\"} 0\n");
    has(text, "\nsmp_metrics_db_ok{collector=\"" COLLECTOR "\"} 0\n");
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
        cmocka_unit_test_setup_teardown(test_quarantine_labels_are_fixed_codes, setup, teardown),
        cmocka_unit_test(test_reason_codes_of_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
