/* test_quarantine_admin: `smpctl quarantine list|show` over a real
 * database (SQLite, or PostgreSQL when SMP_TEST_PG is set: testdb.h):
 * filters, newest first, the kept payload, and device-supplied bytes
 * (terminal escapes, C1, newlines, invalid UTF-8) printed escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "quarantine_admin.h"
#include "quarantine_cmd.h"
#include "termtext.h"
#include "testdb.h"

typedef struct fixture {
    char dir[64], path[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

/* A reason and a payload as a hostile device could make them reach the
 * table: ESC [ 2 J clears a terminal, U+009B is the 8-bit CSI, a newline
 * forges a second line, 0xff is not UTF-8. */
static const char hostile_reason[] = "unknown field 'x\x1b[2J\n\xc2\x9b" "31mfake'";
static const unsigned char hostile_payload[] = "{\"a\":\"\x1b]0;owned\x07\"}\xff";

/* One quarantine row; the payload goes as a blob (bytea on PostgreSQL). */
static void insert_row(sqldb *db, int64_t id, const char *at, const char *device, const char *topic,
                       const char *reason, const void *payload, size_t len)
{
    sqldb_stmt *st = NULL;

    assert_int_equal(sqldb_prepare(db, "INSERT INTO quarantine(id, received_at, device_id, topic, "
                                       "reason, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st), 0);
    assert_int_equal(sqldb_bind_int64(st, 1, id), 0);
    assert_int_equal(sqldb_bind_text(st, 2, at), 0);
    assert_int_equal(sqldb_bind_text(st, 3, device), 0);
    assert_int_equal(sqldb_bind_text(st, 4, topic), 0);
    assert_int_equal(sqldb_bind_text(st, 5, reason), 0);
    assert_int_equal(sqldb_bind_blob(st, 6, payload, len), 0);
    if (sqldb_step(st) != 0)
        fail_msg("insert quarantine %lld: %s", (long long)id, sqldb_errmsg(db));
    sqldb_finalize(st);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512];

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_quarantine.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    testdb_new(f->path, sizeof f->path);
    if (db_open(f->path, &f->db, err, sizeof err) != 0)
        fail_msg("%s", err);
    insert_row(f->db, 1, "2026-11-01T10:00:00.000Z", "dev-a", "smp/v1/dev/dev-a/events",
               "records: empty", "{}", 2);
    insert_row(f->db, 2, "2026-11-02T10:00:00.000Z", NULL, "smp/v1/dev/dev-x/events",
               "device: dev-x is not registered; add it with smpctl device add", "", 0);
    insert_row(f->db, 3, "2026-11-03T10:00:00.000Z", "dev-a", "smp/v1/dev/dev-a/events",
               hostile_reason, hostile_payload, sizeof hostile_payload - 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    sqldb_close(f->db);
    testdb_drop(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_list_filters_newest_first(void **state)
{
    fixture *f = *state;
    quarantine_row *rows;
    size_t n;
    char err[512];

    assert_int_equal(quarantine_admin_list(f->db, &(quarantine_filter){0}, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, 3);
    assert_int_equal(rows[2].id, 1);
    assert_string_equal(rows[1].device, "");
    assert_int_equal(rows[2].payload_len, 2);
    assert_null(rows[0].payload);
    free(rows);

    assert_int_equal(quarantine_admin_list(f->db, &(quarantine_filter){"dev-a", "2026-11-02", 0}, &rows,
                                           &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, 3);
    free(rows);

    assert_int_equal(quarantine_admin_list(f->db, &(quarantine_filter){NULL, NULL, 1}, &rows, &n, err,
                                           sizeof err), 0);
    assert_int_equal(n, 1);
    free(rows);
}

static void test_get_keeps_the_bytes(void **state)
{
    fixture *f = *state;
    quarantine_row r;
    char err[512];

    assert_int_equal(quarantine_admin_get(f->db, 3, &r, err, sizeof err), 0);
    assert_int_equal(r.payload_len, sizeof hostile_payload - 1);
    assert_memory_equal(r.payload, hostile_payload, r.payload_len);
    assert_string_equal(r.reason, hostile_reason);
    free(r.payload);

    assert_int_equal(quarantine_admin_get(f->db, 99, &r, err, sizeof err), -1);
    assert_string_equal(err, "quarantine entry 99 does not exist (the collector keeps the newest "
                             "quarantine_max_rows); see smpctl quarantine list");
}

static void test_termtext_escapes_everything_but_printable_ascii(void **state)
{
    char out[256], *buf = NULL;
    size_t len = 0;
    (void)state;

    assert_string_equal(termtext_escape(out, sizeof out, hostile_reason),
                        "unknown field 'x\\x1b[2J\\x0a\\xc2\\x9b31mfake'");
    /* Cut between escapes, never inside one. */
    assert_string_equal(termtext_escape(out, 19, hostile_reason), "unknown field 'x");
    assert_string_equal(termtext_escape(out, sizeof out, "a\\b"), "a\\x5cb");

    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    termtext_write(m, hostile_payload, sizeof hostile_payload - 1);
    fclose(m);
    assert_string_equal(buf, "{\"a\":\"\\x1b]0;owned\\x07\"}\\xff");
    free(buf);
}

static int run_cmd(const char *const *args)
{
    char *argv[16];
    int argc = 0;
    for (; args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    return quarantine_cmd(argc, argv);
}

/* The commands' output holds no raw control byte at all. */
static void test_command_line_output_is_plain_ascii(void **state)
{
    fixture *f = *state;
    char out_path[160], buf[4096];

    snprintf(out_path, sizeof out_path, "%s/out.txt", f->dir);
    fflush(stdout);
    int saved = dup(1);
    assert_non_null(freopen(out_path, "w", stdout));
    int rc_list = run_cmd((const char *[]){"list", "--db", f->path, NULL});
    int rc_show = run_cmd((const char *[]){"show", "3", "--db", f->path, NULL});
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal(rc_list, 0);
    assert_int_equal(rc_show, 0);

    FILE *in = fopen(out_path, "rb");
    assert_non_null(in);
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    unlink(out_path);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] != '\n' && ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7f))
            fail_msg("raw byte 0x%02x at %zu in:\n%s", (unsigned char)buf[i], i, buf);
    assert_non_null(strstr(buf, "reason:   unknown field 'x\\x1b[2J\\x0a\\xc2\\x9b31mfake'\n"));
    assert_non_null(strstr(buf, "{\"a\":\"\\x1b]0;owned\\x07\"}\\xff"));
    /* list: 1 header line + 3 rows; show: 6 field lines + the payload line. */
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 4 + 7);

    assert_int_equal(run_cmd((const char *[]){"show", "99", "--db", f->path, NULL}), 1);
    assert_int_equal(run_cmd((const char *[]){"show", "x", "--db", f->path, NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--limit", "0", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--since", "11/02", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", "/nonexistent/fleet.db", NULL}), 1);
    assert_int_equal(run_cmd((const char *[]){"list", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"purge", NULL}), 2);
}

/* Runs quarantine_cmd with its stderr captured into out; returns its result. */
static int run_cmd_err(const char *const *args, char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    int saved, rc;
    size_t n;

    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    rc = run_cmd(args);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

/* PostgreSQL: a password in --db never reaches the terminal. */
static void test_password_never_shown(void **state)
{
    fixture *f = *state;
    char uri[TESTDB_TARGET_MAX + 64], out[2048];

    if (!testdb_is_postgres())
        skip();
    testdb_with_secret(f->path, "smp_no_such_db", uri, sizeof uri);
    assert_int_equal(run_cmd_err((const char *[]){"list", "--db", uri, NULL}, out, sizeof out), 1);
    assert_non_null(strstr(out, "***"));
    assert_null(strstr(out, "secret"));
    assert_int_equal(run_cmd_err((const char *[]){"show", "3", "--db", uri, NULL}, out, sizeof out), 1);
    assert_non_null(strstr(out, "***"));
    assert_null(strstr(out, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_filters_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_keeps_the_bytes, setup, teardown),
        cmocka_unit_test(test_termtext_escapes_everything_but_printable_ascii),
        cmocka_unit_test_setup_teardown(test_command_line_output_is_plain_ascii, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_never_shown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
