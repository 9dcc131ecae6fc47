/* Unit tests of report_data (SQL gathering), report_csv and report_html,
 * and report_cmd end to end, against a real temporary store: SQLite, or
 * PostgreSQL when SMP_TEST_PG is set (testdb.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "export.h"
#include "pki.h"
#include "report.h"
#include "report_csv.h"
#include "report_pdf.h"
#include "report_data.h"
#include "report_html.h"
#include "report_json.h"
#include "testdb.h"

#define GEN_AT "2026-12-02T08:00:00.000Z"
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct fixture {
    char dir[256];                  /* for output files */
    char path[TESTDB_TARGET_MAX];   /* the store: a path or a postgresql:// URI */
    sqldb *db;
} fixture;

static const char *const csv_header =
    "device_id,sessions,cartridges,strokes,cycles_passed,cycles_failed,spore_tests,"
    "spore_positive\r\n";

/* ---- store helpers ---- */

/* Runs st (bound) to its end and finalizes it; fails the test on error. */
static void run_stmt(sqldb *db, sqldb_stmt *st)
{
    if (sqldb_step(st) != 0)
        fail_msg("sql failed: %s", sqldb_errmsg(db));
    sqldb_finalize(st);
}

static sqldb_stmt *prepare(sqldb *db, const char *sql)
{
    sqldb_stmt *st = NULL;
    if (sqldb_prepare(db, sql, &st) != 0)
        fail_msg("prepare failed: %s: %s", sql, sqldb_errmsg(db));
    return st;
}

static void add_device(sqldb *db, const char *id, const char *clinic, const char *retired_at)
{
    sqldb_stmt *st = prepare(db, "INSERT INTO devices(device_id, clinic, added_at, retired_at)"
                                 " VALUES (?1, ?2, '2026-01-01T00:00:00.000Z', ?3)");
    assert_int_equal(sqldb_bind_text(st, 1, id), 0);
    assert_int_equal(sqldb_bind_text(st, 2, clinic), 0);
    assert_int_equal(sqldb_bind_text(st, 3, retired_at), 0);
    run_stmt(db, st);
}

/* A record row as the collector stores it; payload is the type's own
 * fields as JSON members ("\"strokes\":500"). The chain fields are not
 * what a report reads, so prev and hash are placeholders. */
static void add_record(sqldb *db, const char *dev, int seq, const char *ts, const char *type,
                       const char *payload)
{
    char body[1024];
    sqldb_stmt *st;

    snprintf(body, sizeof body, "{%s%s\"prev\":\"%s\",\"seq\":%d,\"ts\":\"%s\",\"type\":\"%s\"}",
             payload, payload[0] ? "," : "", ZEROS, seq, ts, type);
    st = prepare(db, "INSERT INTO records(device_id, seq, ts, received_at, type, prev, hash,"
                     " body) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?5, ?6)");
    assert_int_equal(sqldb_bind_text(st, 1, dev), 0);
    assert_int_equal(sqldb_bind_int64(st, 2, seq), 0);
    assert_int_equal(sqldb_bind_text(st, 3, ts), 0);
    assert_int_equal(sqldb_bind_text(st, 4, type), 0);
    assert_int_equal(sqldb_bind_text(st, 5, ZEROS), 0);
    assert_int_equal(sqldb_bind_text(st, 6, body), 0);
    run_stmt(db, st);
}

#define START "\"client_ref\":\"c-1\",\"operator_id\":\"op-1\",\"session_id\":\"s-1\",\"treatment_no\":1"
#define END(strokes) "\"run_s\":3600,\"session_id\":\"s-1\",\"strokes\":" #strokes
#define INSERT(uid)                                                                        \
    "\"cartridge_uid\":\"" uid "\",\"config\":\"3RL\",\"expiry\":\"2027-01-01\","           \
    "\"lot\":\"L1\",\"needles\":3,\"session_id\":\"s-1\",\"sku\":\"0603RL\""
#define CYCLE(result)                                                                      \
    "\"ci_result\":\"pass\",\"cycle_no\":7,\"dry_s\":900,\"exposure_s\":240,"             \
    "\"load_id\":\"L-7\",\"operator_id\":\"op-1\",\"pressure_max_kpa\":310.0,"             \
    "\"pressure_min_kpa\":300.0,\"program\":\"prevac_132\",\"result\":\"" result "\","     \
    "\"setpoint_c\":132.0,\"sterilizer_id\":\"st-1\",\"temp_max_c\":133.5,"                \
    "\"temp_min_c\":132.1"
#define TEST(kind, result)                                                                 \
    "\"bi_lot\":\"B1\",\"cycle_no\":7,\"kind\":\"" kind "\",\"read_ts\":"                  \
    "\"2026-11-20T10:00:00.000Z\",\"result\":\"" result "\",\"sterilizer_id\":\"st-1\""

/* Clinic North: dev-n1 busy, with records either side of the period;
 * dev-n2 retired, reuses a cartridge uid of dev-n1 (counted per device);
 * dev-n3 silent. Clinic South and an unregistered device add noise that
 * must never show up in North's numbers. */
static void fill_north_south(sqldb *db)
{
    add_device(db, "dev-n2", "North", "2026-11-25T12:00:00.000Z");
    add_device(db, "dev-n1", "North", NULL);
    add_device(db, "dev-n3", "North", NULL);
    add_device(db, "dev-s1", "South", NULL);

    add_record(db, "dev-n1", 1, "2026-10-31T23:59:59.999Z", "session.start", START);
    add_record(db, "dev-n1", 2, "2026-11-01T00:00:00.000Z", "session.start", START);
    add_record(db, "dev-n1", 3, "2026-11-01T00:10:00.000Z", "cartridge.insert", INSERT("C1"));
    add_record(db, "dev-n1", 4, "2026-11-01T01:10:00.000Z", "cartridge.insert", INSERT("C2"));
    add_record(db, "dev-n1", 5, "2026-11-01T02:10:00.000Z", "cartridge.insert", INSERT("C1"));
    add_record(db, "dev-n1", 6, "2026-11-01T03:00:00.000Z", "session.end", END(1000));
    /* Carries strokes too, but a session's strokes come from session.end. */
    add_record(db, "dev-n1", 18, "2026-11-01T02:59:00.000Z", "cartridge.remove",
               "\"cartridge_uid\":\"C1\",\"reason\":\"session_end\",\"run_s\":60,"
               "\"session_id\":\"s-1\",\"strokes\":300");
    add_record(db, "dev-n1", 7, "2026-11-30T23:00:00.000Z", "session.start", START);
    add_record(db, "dev-n1", 8, "2026-11-30T23:59:59.999Z", "session.end", END(500));
    add_record(db, "dev-n1", 9, "2026-12-01T00:00:00.000Z", "session.start", START);
    add_record(db, "dev-n1", 10, "2026-12-01T00:00:00.000Z", "session.end", END(99999));
    add_record(db, "dev-n1", 11, "2026-11-10T08:00:00.000Z", "sterilization.cycle", CYCLE("pass"));
    add_record(db, "dev-n1", 12, "2026-11-10T09:00:00.000Z", "sterilization.cycle", CYCLE("fail"));
    add_record(db, "dev-n1", 13, "2026-11-10T10:00:00.000Z", "sterilization.cycle",
               CYCLE("aborted"));
    add_record(db, "dev-n1", 14, "2026-11-11T08:00:00.000Z", "sterilization.test",
               TEST("spore", "negative"));
    add_record(db, "dev-n1", 15, "2026-11-18T08:00:00.000Z", "sterilization.test",
               TEST("spore", "positive"));
    add_record(db, "dev-n1", 16, "2026-11-18T09:00:00.000Z", "sterilization.test",
               TEST("bowie_dick", "positive"));
    add_record(db, "dev-n1", 17, "2026-11-18T09:30:00.000Z", "usage.counters",
               "\"cartridge_run_s\":10,\"cartridge_strokes\":10,\"motor_s_total\":10,"
               "\"strokes_total\":10");

    add_record(db, "dev-n2", 1, "2026-11-05T10:00:00.000Z", "session.start", START);
    add_record(db, "dev-n2", 2, "2026-11-05T10:01:00.000Z", "cartridge.insert", INSERT("C1"));
    add_record(db, "dev-n2", 3, "2026-11-05T12:00:00.000Z", "session.end", END(250));
    add_record(db, "dev-n2", 4, "2026-11-06T08:00:00.000Z", "sterilization.cycle", CYCLE("pass"));
    add_record(db, "dev-n2", 5, "2026-11-07T08:00:00.000Z", "sterilization.cycle", CYCLE("pass"));

    for (int i = 1; i <= 5; i++)
        add_record(db, "dev-s1", i, "2026-11-15T10:00:00.000Z", "session.start", START);
    add_record(db, "dev-s1", 6, "2026-11-15T12:00:00.000Z", "session.end", END(7777));
    add_record(db, "ghost-1", 1, "2026-11-15T10:00:00.000Z", "session.start", START);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    testdb_new(fx->path, sizeof fx->path);
    fx->db = testdb_open(fx->path);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    fill_north_south(fx->db);
    assert_int_equal(sqldb_commit(fx->db), 0);
    *state = fx;
    return 0;
}

static void remove_in(const fixture *fx, const char *name)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", fx->dir, name);
    unlink(p);
}

static int teardown(void **state)
{
    fixture *fx = *state;

    sqldb_close(fx->db);
    testdb_drop(fx->path);
    remove_in(fx, "out.csv");
    remove_in(fx, "nope.db");
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* ---- rendering helpers ---- */

static char *render(int (*writer)(FILE *, const report_data *), const report_data *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(writer(f, d), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static char *report_csv_for(sqldb *db, const char *clinic, const char *from, const char *to)
{
    report_data d;
    char err[512] = "";
    char *csv;

    if (report_data_load(db, clinic, from, to, GEN_AT, &d, err, sizeof err) != 0)
        fail_msg("report_data_load: %s", err);
    csv = render(report_csv_write, &d);
    report_data_free(&d);
    return csv;
}

static void assert_csv(sqldb *db, const char *clinic, const char *from, const char *to,
                       const char *rows)
{
    char expected[2048];
    char *csv = report_csv_for(db, clinic, from, to);

    snprintf(expected, sizeof expected, "%s%s", csv_header, rows);
    assert_string_equal(csv, expected);
    free(csv);
}

/* ---- tests ---- */

static void test_month_counts_and_totals(void **state)
{
    fixture *fx = *state;

    assert_csv(fx->db, "North", "2026-11-01", "2026-11-30",
               "dev-n1,2,2,1500,1,2,2,1\r\n"
               "dev-n2,1,1,250,2,0,0,0\r\n"
               "dev-n3,0,0,0,0,0,0,0\r\n"
               "TOTAL,3,3,1750,3,2,2,1\r\n");
}

static void test_struct_fields(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "";

    assert_int_equal(report_data_load(fx->db, "North", "2026-11-01", "2026-11-30", GEN_AT, &d,
                                      err, sizeof err), 0);
    assert_string_equal(d.clinic, "North");
    assert_string_equal(d.from, "2026-11-01");
    assert_string_equal(d.to, "2026-11-30");
    assert_string_equal(d.generated_at, GEN_AT);
    assert_int_equal(d.nrows, 3);
    assert_int_equal(d.nretired, 1);
    assert_false(d.rows[0].retired);
    assert_true(d.rows[1].retired);
    assert_int_equal(d.rows[0].count[RC_STROKES], 1500);
    assert_int_equal(d.total.count[RC_SPORE_POSITIVE], 1);
    report_data_free(&d);
}

/* The --to day is included up to its last millisecond; the next day is not. */
static void test_to_day_included_next_day_not(void **state)
{
    fixture *fx = *state;

    assert_csv(fx->db, "North", "2026-11-30", "2026-11-30",
               "dev-n1,1,0,500,0,0,0,0\r\n"
               "dev-n2,0,0,0,0,0,0,0\r\n"
               "dev-n3,0,0,0,0,0,0,0\r\n"
               "TOTAL,1,0,500,0,0,0,0\r\n");
    assert_csv(fx->db, "North", "2026-12-01", "2026-12-01",
               "dev-n1,1,0,99999,0,0,0,0\r\n"
               "dev-n2,0,0,0,0,0,0,0\r\n"
               "dev-n3,0,0,0,0,0,0,0\r\n"
               "TOTAL,1,0,99999,0,0,0,0\r\n");
}

/* Mid-month too: the day after --to starts at its midnight. */
static void test_mid_month_boundary(void **state)
{
    fixture *fx = *state;

    assert_csv(fx->db, "North", "2026-11-10", "2026-11-10",
               "dev-n1,0,0,0,1,2,0,0\r\n"
               "dev-n2,0,0,0,0,0,0,0\r\n"
               "dev-n3,0,0,0,0,0,0,0\r\n"
               "TOTAL,0,0,0,1,2,0,0\r\n");
    add_record(fx->db, "dev-n3", 1, "2026-11-11T00:00:00.000Z", "session.start", START);
    assert_csv(fx->db, "North", "2026-11-10", "2026-11-10",
               "dev-n1,0,0,0,1,2,0,0\r\n"
               "dev-n2,0,0,0,0,0,0,0\r\n"
               "dev-n3,0,0,0,0,0,0,0\r\n"
               "TOTAL,0,0,0,1,2,0,0\r\n");
}

/* The --from day starts at midnight; the last millisecond before is out. */
static void test_from_day_boundary(void **state)
{
    fixture *fx = *state;

    assert_csv(fx->db, "North", "2026-10-31", "2026-10-31",
               "dev-n1,1,0,0,0,0,0,0\r\n"
               "dev-n2,0,0,0,0,0,0,0\r\n"
               "dev-n3,0,0,0,0,0,0,0\r\n"
               "TOTAL,1,0,0,0,0,0,0\r\n");
}

static void test_year_end_boundary(void **state)
{
    fixture *fx = *state;

    add_device(fx->db, "dev-y1", "Year", NULL);
    add_record(fx->db, "dev-y1", 1, "2026-12-31T23:59:59.999Z", "session.end", END(10));
    add_record(fx->db, "dev-y1", 2, "2027-01-01T00:00:00.000Z", "session.end", END(20));
    add_record(fx->db, "dev-y1", 3, "2027-02-28T23:59:59.999Z", "session.end", END(40));
    add_record(fx->db, "dev-y1", 4, "2027-03-01T00:00:00.000Z", "session.end", END(80));
    assert_csv(fx->db, "Year", "2026-12-01", "2026-12-31",
               "dev-y1,0,0,10,0,0,0,0\r\nTOTAL,0,0,10,0,0,0,0\r\n");
    assert_csv(fx->db, "Year", "2027-01-01", "2027-02-28",
               "dev-y1,0,0,60,0,0,0,0\r\nTOTAL,0,0,60,0,0,0,0\r\n");
}

static void test_other_clinic_excluded(void **state)
{
    fixture *fx = *state;

    assert_csv(fx->db, "South", "2026-11-01", "2026-11-30",
               "dev-s1,5,0,7777,0,0,0,0\r\nTOTAL,5,0,7777,0,0,0,0\r\n");
}

static void test_unknown_clinic_is_error(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "", expected[700];

    assert_int_equal(report_data_load(fx->db, "Nowhere", "2026-11-01", "2026-11-30", GEN_AT, &d,
                                      err, sizeof err), -1);
    snprintf(expected, sizeof expected, "clinic 'Nowhere' has no registered devices; check the "
             "name with 'smpctl device list --db %s'", sqldb_name(fx->db));
    assert_string_equal(err, expected);
    assert_null(d.rows);
    assert_null(d.clinic);
}

static void expect_period_error(const char *from, const char *to, const char *msg)
{
    char err[256] = "";
    assert_int_equal(report_period_check(from, to, err, sizeof err), -1);
    assert_string_equal(err, msg);
}

static void test_period_validation(void **state)
{
    char err[256];
    (void)state;

    assert_int_equal(report_period_check("2024-02-29", "2024-02-29", err, sizeof err), 0);
    assert_int_equal(report_period_check("2000-02-29", "2026-12-31", err, sizeof err), 0);
    expect_period_error("2026-02-29", "2026-03-01",
                        "--from: '2026-02-29' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-03-01", "1900-02-29",
                        "--to: '1900-02-29' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-04-31", "2026-05-01",
                        "--from: '2026-04-31' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-11-01", "2026-13-01",
                        "--to: '2026-13-01' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-1-01", "2026-11-01",
                        "--from: '2026-1-01' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-11-01", "2026-11-01T00",
                        "--to: '2026-11-01T00' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-11-0a", "2026-11-01",
                        "--from: '2026-11-0a' is not a calendar date; write it as YYYY-MM-DD");
    expect_period_error("2026-12-01", "2026-11-30",
                        "--from 2026-12-01 is after --to 2026-11-30; swap them");
}

static void test_csv_quoting(void **state)
{
    static const struct { const char *in, *out; } cases[] = {
        {"plain", "plain"},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\r", "\"cr\r\""},
        {"", ""},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        report_csv_field(f, cases[i].in);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf, cases[i].out);
        free(buf);
    }
}

static void test_html_escapes_and_is_self_contained(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "";
    char *html;

    add_device(fx->db, "dev-h1", "Smith <&> \"Sons\" 'Ltd'", NULL);
    add_record(fx->db, "dev-h1", 1, "2026-11-02T10:00:00.000Z", "sterilization.test",
               TEST("spore", "positive"));
    assert_int_equal(report_data_load(fx->db, "Smith <&> \"Sons\" 'Ltd'", "2026-11-01",
                                      "2026-11-30", GEN_AT, &d, err, sizeof err), 0);
    html = render(report_html_write, &d);
    report_data_free(&d);

    assert_non_null(strstr(html, "<title>Compliance report: Smith &lt;&amp;&gt; &quot;Sons&quot; "
                                 "&#39;Ltd&#39;, 2026-11-01 to 2026-11-30</title>"));
    assert_non_null(strstr(html, "<h1>Compliance report: Smith &lt;&amp;&gt; &quot;Sons&quot; "
                                 "&#39;Ltd&#39;</h1>"));
    assert_null(strstr(html, "<&>"));
    assert_null(strstr(html, "\"Sons\""));
    assert_non_null(strstr(html, "<tr><td>dev-h1</td><td>0</td><td>0</td><td>0</td><td>0</td>"
                                 "<td>0</td><td>1</td><td>1</td></tr>"));
    assert_non_null(strstr(html, "<tr class=\"total\"><td>TOTAL</td>"));
    assert_non_null(strstr(html, "1 positive spore test(s)"));
    assert_non_null(strstr(html, "Generated at " GEN_AT));
    assert_non_null(strstr(html, "<style>"));
    /* Self-contained: nothing fetched, nothing executed. */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    assert_int_equal(strncmp(html, "<!DOCTYPE html>\n", 16), 0);
    assert_non_null(strstr(html, "</html>\n"));
    free(html);
}

/* ---- violations, sterilizer log, tests, days (clinic East) ---- */

#define E_CYCLE(no, load, result, tmin, alarm)                                             \
    "\"ci_result\":\"" result "\",\"cycle_no\":" #no ",\"dry_s\":1500,\"exposure_s\":245,"  \
    "\"load_id\":\"" load "\",\"operator_id\":\"op-9\",\"pressure_max_kpa\":311.5,"          \
    "\"pressure_min_kpa\":301.2,\"program\":\"prevac_134\",\"result\":\"" result "\","       \
    "\"setpoint_c\":134.0,\"sterilizer_id\":\"ac-e\",\"temp_max_c\":135.9,"                  \
    "\"temp_min_c\":" tmin alarm
#define E_TEST(kind, no, lot, result, read)                                                \
    "\"bi_lot\":\"" lot "\",\"cycle_no\":" #no ",\"kind\":\"" kind "\",\"read_ts\":\"" read   \
    "\",\"result\":\"" result "\",\"sterilizer_id\":\"ac-e\""

static void add_alert(sqldb *db, const char *rule, const char *severity, const char *dev,
                      const char *clinic, const char *cause, const char *evidence,
                      const char *raised, const char *acked, const char *by, const char *cleared)
{
    char message[200];
    sqldb_stmt *st = prepare(db, "INSERT INTO alerts(rule, severity, device_id, clinic, cause,"
                                 " message, evidence, raised_at, acked_at, acked_by, cleared_at)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    snprintf(message, sizeof message, "msg %s", cause);
    const char *v[] = {rule,     severity, dev,   clinic, cause,  message,
                       evidence, raised,   acked, by,     cleared};
    for (int i = 0; i < 11; i++)
        assert_int_equal(sqldb_bind_text(st, i + 1, v[i]), 0);
    run_stmt(db, st);
}

static void fill_east(sqldb *db)
{
    add_device(db, "dev-e1", "East", NULL);
    add_record(db, "dev-e1", 1, "2026-11-02T07:00:00.000Z", "sterilization.cycle",
               E_CYCLE(1, "E-L1", "pass", "134.6", ""));
    add_record(db, "dev-e1", 2, "2026-11-02T07:45:00.000Z", "sterilization.test",
               E_TEST("bowie_dick", 1, "BD-1", "negative", "2026-11-02T07:45:00.000Z"));
    add_record(db, "dev-e1", 3, "2026-11-02T07:46:00.000Z", "sterilization.test",
               E_TEST("spore", 1, "BI-9", "negative", "2026-11-03T07:46:00.000Z"));
    add_record(db, "dev-e1", 4, "2026-11-02T09:00:00.000Z", "sterilization.cycle",
               E_CYCLE(2, "E-L2", "fail", "128.5", ",\"alarm_code\":\"E12-LOW-TEMP\""));
    add_record(db, "dev-e1", 5, "2026-11-02T10:00:00.000Z", "session.start", START);
    add_record(db, "dev-e1", 6, "2026-11-02T10:01:00.000Z", "cartridge.insert", INSERT("EC-1"));
    add_record(db, "dev-e1", 7, "2026-11-02T12:00:00.000Z", "session.end", END(1234));
    add_record(db, "dev-e1", 8, "2026-11-04T08:00:00.000Z", "sterilization.test",
               E_TEST("spore", 2, "BI-9", "positive", "2026-11-04T08:00:00.000Z"));

    add_alert(db, "R4", "cycle_failed", "dev-e1", "East", "cycle:seq=4",
              "{\"device\":\"dev-e1\",\"seq\":4,\"ts\":\"2026-11-02T09:00:00.000Z\"}",
              "2026-11-02T09:00:01.500Z", NULL, NULL, NULL);
    add_alert(db, "R2", "critical", "dev-e1", "East", "expired:EC-1",
              "{\"cartridge\":{\"device\":\"dev-e1\",\"seq\":6},\"expiry\":\"2026-10-01\"}",
              "2026-11-02T10:01:02.000Z", "2026-11-02T11:00:00.000Z", "nurse-a", NULL);
    add_alert(db, "R7", "critical", "dev-e1", "East", "positive:ac-e",
              "{\"test\":{\"seq\":8},\"recall\":[{\"device\":\"dev-e1\",\"seq\":1},"
              "{\"device\":\"dev-e1\",\"seq\":4}]}",
              "2026-11-04T08:00:02.000Z", NULL, NULL, "2026-11-09T08:00:00.000Z");
    /* Raised after the period, for a record in it (a backlog): included. */
    add_alert(db, "R9", "integrity", "dev-e1", "East", "chain-break:seq=5",
              "{\"seq\":5,\"prev\":\"x\"}", "2026-12-05T00:00:00.000Z", NULL, NULL, NULL);
    /* Raised before the period: not a violation of it, but still open. */
    add_alert(db, "R8", "maintenance", "dev-e1", "East", "silent", "{}",
              "2026-10-15T00:00:00.000Z", NULL, NULL, NULL);
    add_alert(db, "R4", "cycle_failed", "dev-s1", "South", "cycle:seq=1", "{\"seq\":1}",
              "2026-11-05T00:00:00.000Z", NULL, NULL, NULL);
    /* Cites a record of another clinic's device: named, body not shown. */
    add_alert(db, "R1", "critical", "dev-e1", "East", "reused:C9",
              "{\"first\":{\"device\":\"dev-s1\",\"seq\":1},\"second\":{\"device\":\"dev-e1\","
              "\"seq\":6}}",
              "2026-11-20T00:00:00.000Z", NULL, NULL, NULL);
}

static void load_east(fixture *fx, report_data *d)
{
    char err[512] = "";

    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    fill_east(fx->db);
    assert_int_equal(sqldb_commit(fx->db), 0);
    if (report_data_load(fx->db, "East", "2026-11-01", "2026-11-30", GEN_AT, d, err, sizeof err))
        fail_msg("report_data_load: %s", err);
}

static void test_summary_and_days_exact(void **state)
{
    fixture *fx = *state;
    report_data d;

    load_east(fx, &d);
    assert_int_equal(d.nrows, 1);
    assert_int_equal(d.total.count[RC_SESSIONS], 1);
    assert_int_equal(d.total.count[RC_CARTRIDGES], 1);
    assert_int_equal(d.total.count[RC_STROKES], 1234);
    assert_int_equal(d.total.count[RC_CYCLES_PASSED], 1);
    assert_int_equal(d.total.count[RC_CYCLES_FAILED], 1);
    assert_int_equal(d.total.count[RC_SPORE_TESTS], 2);
    assert_int_equal(d.total.count[RC_SPORE_POSITIVE], 1);
    assert_int_equal(d.bowie_dick_tests, 1);
    assert_int_equal(d.bowie_dick_failed, 0);
    assert_int_equal(d.ndays, 30);
    assert_string_equal(d.days[0].date, "2026-11-01");
    assert_string_equal(d.days[29].date, "2026-11-30");
    assert_string_equal(d.days[1].date, "2026-11-02");
    assert_int_equal(d.days[1].sessions, 1);
    assert_int_equal(d.days[1].strokes, 1234);
    assert_int_equal(d.days[1].cycles_passed, 1);
    assert_int_equal(d.days[1].cycles_failed, 1);
    for (size_t i = 2; i < d.ndays; i++)
        assert_int_equal(d.days[i].sessions + d.days[i].cycles_passed + d.days[i].cycles_failed, 0);
    report_data_free(&d);
}

static void test_violations_exact(void **state)
{
    fixture *fx = *state;
    report_data d;

    load_east(fx, &d);
    assert_int_equal(d.nviolations, 5);
    assert_string_equal(d.violations[0].rule, "R4");
    assert_string_equal(d.violations[1].rule, "R2");
    assert_string_equal(d.violations[2].rule, "R7");
    assert_string_equal(d.violations[3].rule, "R1");
    assert_string_equal(d.violations[4].rule, "R9");

    const report_violation *r4 = &d.violations[0];
    assert_string_equal(r4->severity, "cycle_failed");
    assert_string_equal(r4->device_id, "dev-e1");
    assert_string_equal(r4->message, "msg cycle:seq=4");
    assert_string_equal(r4->raised_at, "2026-11-02T09:00:01.500Z");
    assert_string_equal(r4->acked_at, "");
    assert_string_equal(r4->cleared_at, "");
    assert_int_equal(r4->ncited, 1);
    assert_int_equal(r4->cited[0].seq, 4);
    assert_string_equal(r4->cited[0].type, "sterilization.cycle");
    assert_string_equal(r4->cited[0].ts, "2026-11-02T09:00:00.000Z");
    assert_non_null(strstr(r4->cited[0].body, "\"alarm_code\":\"E12-LOW-TEMP\""));

    const report_violation *r2 = &d.violations[1];
    assert_string_equal(r2->acked_by, "nurse-a");
    assert_string_equal(r2->acked_at, "2026-11-02T11:00:00.000Z");
    assert_int_equal(r2->ncited, 1);
    assert_int_equal(r2->cited[0].seq, 6);
    assert_string_equal(r2->cited[0].type, "cartridge.insert");

    const report_violation *r7 = &d.violations[2];
    assert_string_equal(r7->cleared_at, "2026-11-09T08:00:00.000Z");
    assert_int_equal(r7->ncited, 3);
    assert_int_equal(r7->nevidence, 3);
    assert_int_equal(r7->cited[0].seq, 8);   /* evidence order */
    assert_int_equal(r7->cited[1].seq, 1);
    assert_int_equal(r7->cited[2].seq, 4);
    assert_string_equal(r7->cited[0].type, "sterilization.test");

    const report_violation *r1 = &d.violations[3];
    assert_int_equal(r1->ncited, 2);
    assert_string_equal(r1->cited[0].device_id, "dev-s1");
    assert_null(r1->cited[0].body);          /* another clinic's record */
    assert_string_equal(r1->cited[1].device_id, "dev-e1");
    assert_non_null(r1->cited[1].body);

    assert_string_equal(d.violations[4].raised_at, "2026-12-05T00:00:00.000Z");
    assert_int_equal(d.violations[4].cited[0].seq, 5);

    /* By rule number; R7's one violation is cleared. */
    assert_int_equal(d.nrules, 5);
    const char *rules[] = {"R1", "R2", "R4", "R7", "R9"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(d.rules[i].rule, rules[i]);
        assert_int_equal(d.rules[i].count, 1);
        assert_int_equal(d.rules[i].open, i == 3 ? 0 : 1);
    }
    /* Of the five, all but the cleared R7 (the acknowledged R2 is still
     * open); never the R8 raised before the period or South's. */
    assert_int_equal(d.open_alerts, 4);
    report_data_free(&d);
}

static void test_sterilizer_log_exact(void **state)
{
    fixture *fx = *state;
    report_data d;

    load_east(fx, &d);
    assert_int_equal(d.ncycles, 2);
    assert_int_equal(d.ntests, 3);

    const report_cycle *c = &d.cycles[0];
    assert_string_equal(c->device_id, "dev-e1");
    assert_int_equal(c->seq, 1);
    assert_string_equal(c->ts, "2026-11-02T07:00:00.000Z");
    assert_string_equal(c->sterilizer_id, "ac-e");
    assert_int_equal(c->cycle_no, 1);
    assert_string_equal(c->load_id, "E-L1");
    assert_string_equal(c->program, "prevac_134");
    assert_int_equal(c->setpoint_dc, 1340);
    assert_int_equal(c->temp_min_dc, 1346);
    assert_int_equal(c->temp_max_dc, 1359);
    assert_int_equal(c->exposure_s, 245);
    assert_int_equal(c->pressure_min_dkpa, 3012);
    assert_int_equal(c->pressure_max_dkpa, 3115);
    assert_int_equal(c->dry_s, 1500);
    assert_string_equal(c->operator_id, "op-9");
    assert_string_equal(c->ci_result, "pass");
    assert_string_equal(c->result, "pass");
    assert_string_equal(c->alarm_code, "");
    assert_int_equal(c->bowie_dick, 0);
    assert_int_equal(c->spore, 1);

    c = &d.cycles[1];
    assert_int_equal(c->cycle_no, 2);
    assert_string_equal(c->result, "fail");
    assert_int_equal(c->temp_min_dc, 1285);
    assert_string_equal(c->alarm_code, "E12-LOW-TEMP");
    assert_int_equal(c->bowie_dick, -1);
    assert_int_equal(c->spore, 2);

    const report_test *t = &d.tests[2];
    assert_string_equal(t->kind, "spore");
    assert_string_equal(t->result, "positive");
    assert_string_equal(t->bi_lot, "BI-9");
    assert_int_equal(t->cycle_no, 2);
    assert_int_equal(t->seq, 8);
    assert_string_equal(t->read_ts, "2026-11-04T08:00:00.000Z");
    report_data_free(&d);
}

static cJSON *item(const cJSON *o, const char *path)
{
    char key[64];
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
        o = key[0] >= '0' && key[0] <= '9' ? cJSON_GetArrayItem(o, atoi(key))
                                           : cJSON_GetObjectItemCaseSensitive(o, key);
        path = dot + 1;
    }
    o = path[0] >= '0' && path[0] <= '9' ? cJSON_GetArrayItem(o, atoi(path))
                                         : cJSON_GetObjectItemCaseSensitive(o, path);
    if (o == NULL)
        fail_msg("JSON has no %s", path);
    return (cJSON *)o;
}

static void test_json_parses_back(void **state)
{
    fixture *fx = *state;
    report_data d;
    char *text;
    cJSON *j, *built;

    load_east(fx, &d);
    text = render(report_json_write, &d);
    assert_non_null(strstr(text, "\"temp_min_c\":128.5"));   /* one decimal, exactly */
    j = cJSON_Parse(text);
    assert_non_null(j);
    assert_string_equal(item(j, "clinic")->valuestring, "East");
    assert_string_equal(item(j, "period.from")->valuestring, "2026-11-01");
    assert_string_equal(item(j, "period.to")->valuestring, "2026-11-30");
    assert_string_equal(item(j, "generated_at")->valuestring, GEN_AT);
    assert_int_equal(item(j, "summary.sessions")->valueint, 1);
    assert_int_equal(item(j, "summary.strokes")->valueint, 1234);
    assert_int_equal(item(j, "summary.cycles_failed")->valueint, 1);
    assert_int_equal(item(j, "summary.spore_positive")->valueint, 1);
    assert_int_equal(item(j, "summary.violations")->valueint, 5);
    assert_int_equal(item(j, "summary.open_alerts")->valueint, 4);
    assert_string_equal(item(j, "summary.violations_by_rule.2.rule")->valuestring, "R4");
    assert_string_equal(item(j, "summary.violations_by_rule.2.title")->valuestring,
                        "Sterilization cycle failed");
    assert_int_equal(cJSON_GetArraySize(item(j, "days")), 30);
    assert_int_equal(item(j, "days.1.strokes")->valueint, 1234);
    assert_int_equal(cJSON_GetArraySize(item(j, "sterilizer_log")), 2);
    assert_true(item(j, "sterilizer_log.1.temp_min_c")->valuedouble == 128.5);
    assert_string_equal(item(j, "sterilizer_log.1.alarm_code")->valuestring, "E12-LOW-TEMP");
    assert_true(cJSON_IsNull(item(j, "sterilizer_log.0.alarm_code")));
    assert_string_equal(item(j, "sterilizer_log.0.bowie_dick.result")->valuestring, "negative");
    assert_string_equal(item(j, "sterilizer_log.1.spore.result")->valuestring, "positive");
    assert_int_equal(cJSON_GetArraySize(item(j, "tests")), 3);
    assert_string_equal(item(j, "violations.2.rule")->valuestring, "R7");
    assert_string_equal(item(j, "violations.2.cleared_at")->valuestring,
                        "2026-11-09T08:00:00.000Z");
    assert_int_equal(item(j, "violations.2.evidence.recall.1.seq")->valueint, 4);
    assert_string_equal(item(j, "violations.2.records.0.body.kind")->valuestring, "spore");
    assert_true(cJSON_IsFalse(item(j, "violations.3.records.0.stored")));
    assert_string_equal(item(j, "violations.1.acked_by")->valuestring, "nurse-a");
    assert_string_equal(item(j, "devices.0.device_id")->valuestring, "dev-e1");
    assert_int_equal(item(j, "total.cartridges")->valueint, 1);

    /* The streamed output is exactly the tree report_json_build makes. */
    built = report_json_build(&d);
    assert_non_null(built);
    char *printed = cJSON_PrintUnformatted(built);
    assert_int_equal(strlen(text), strlen(printed) + 1);
    assert_int_equal(strncmp(text, printed, strlen(printed)), 0);
    cJSON_free(printed);
    cJSON_Delete(built);
    cJSON_Delete(j);
    free(text);
    report_data_free(&d);
}

static void test_html_has_charts_and_logs(void **state)
{
    fixture *fx = *state;
    report_data d;
    char *html, *p;
    int charts = 0;

    load_east(fx, &d);
    html = render(report_html_write, &d);
    for (p = html; (p = strstr(p, "<svg class=\"chart\"")) != NULL; p++)
        charts++;
    assert_int_equal(charts, 4);
    assert_non_null(strstr(html, "<title>Treatment sessions per day</title>"));
    assert_non_null(strstr(html, "<title>Sterilization cycles per day</title>"));
    assert_non_null(strstr(html, "<title>Violations by rule</title>"));
    assert_non_null(strstr(html, "<title>2026-11-02: 1 passed, 1 failed or aborted</title>"));
    assert_non_null(strstr(html, "<h2>Sterilizer log</h2>"));
    assert_non_null(strstr(html, "E12-LOW-TEMP"));
    assert_non_null(strstr(html, "<h2>Violations</h2>"));
    assert_non_null(strstr(html, "nurse-a"));
    assert_non_null(strstr(html, "<h2>Spore and Bowie-Dick tests</h2>"));
    assert_non_null(strstr(html, "@media print"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "url("));
    free(html);
    report_data_free(&d);
}

/* SQLite's plan for query reads r by a search of records_compliance. */
static void assert_sqlite_plan_searches_index(sqldb *db, const char *query)
{
    char sql[4096];
    sqldb_stmt *st;
    bool search = false;
    int step;

    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", query);
    st = prepare(db, sql);
    while ((step = sqldb_step(st)) == 1) {
        const char *detail = sqldb_column_text(st, 3);
        if (detail && strstr(detail, " r ")) {
            assert_non_null(strstr(detail, "SEARCH r USING COVERING INDEX records_compliance "
                                           "(device_id=? AND type=? AND ts>? AND ts<?)"));
            search = true;
        }
    }
    assert_int_equal(step, 0);
    sqldb_finalize(st);
    assert_true(search);
}

/* PostgreSQL's plan for query, sequential scans off, reads records
 * through records_compliance and never scans the table. */
static void assert_pg_plan_uses_index(sqldb *db, const char *query)
{
    char sql[4096];
    sqldb_stmt *st;
    bool uses = false;
    int step;

    assert_int_equal(sqldb_begin(db, SQLDB_WRITE), 0);
    testdb_exec(db, "SET LOCAL enable_seqscan = off");
    snprintf(sql, sizeof sql, "EXPLAIN %s", query);
    st = prepare(db, sql);
    assert_int_equal(sqldb_bind_text(st, 1, "North"), 0);
    assert_int_equal(sqldb_bind_text(st, 2, "2026-11-01"), 0);
    assert_int_equal(sqldb_bind_text(st, 3, "2026-11-31"), 0);
    while ((step = sqldb_step(st)) == 1) {
        const char *line = sqldb_column_text(st, 0);
        if (line == NULL)
            continue;
        uses = uses || strstr(line, "records_compliance") != NULL;
        if (strstr(line, "Seq Scan on records"))
            fail_msg("query scans records: %s\n%s", line, query);
    }
    assert_int_equal(step, 0);
    sqldb_finalize(st);
    sqldb_rollback(db);
    if (!uses)
        fail_msg("query does not use records_compliance:\n%s", query);
}

/* Each records query searches the covering index by device, type and ts:
 * never a scan of the index (which grows with the whole fleet) and never
 * the records table itself. SQLite's plan (EXPLAIN QUERY PLAN) is
 * SQLite's own; PostgreSQL plans by its statistics (a small test table is
 * scanned), so there the test keeps the index usable: with sequential
 * scans off, every query reads records through records_compliance. */
static void test_queries_search_the_index(void **state)
{
    fixture *fx = *state;
    char q[2048];
    size_t n = 0;

    for (size_t i = 0; report_data_query(fx->db, i, q, sizeof q) == 0; i++, n++) {
        if (testdb_is_postgres())
            assert_pg_plan_uses_index(fx->db, q);
        else
            assert_sqlite_plan_searches_index(fx->db, q);
    }
    assert_int_equal(n, 4);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 65536);
    assert_non_null(f);
    assert_non_null(buf);
    assert_true(fread(buf, 1, 65535, f) < 65535);
    fclose(f);
    return buf;
}

static void test_cmd_writes_csv_file(void **state)
{
    fixture *fx = *state;
    char out[400], *csv, expected[1024];
    char *argv[] = {"--db", fx->path, "--clinic", "South", "--from", "2026-11-01", "--to",
                    "2026-11-30", "--format", "csv", "--out", out};

    snprintf(out, sizeof out, "%s/out.csv", fx->dir);
    assert_int_equal(report_cmd(12, argv), 0);
    csv = slurp(out);
    snprintf(expected, sizeof expected, "%sdev-s1,5,0,7777,0,0,0,0\r\nTOTAL,5,0,7777,0,0,0,0\r\n",
             csv_header);
    assert_string_equal(csv, expected);
    free(csv);
}

static void test_cmd_errors(void **state)
{
    fixture *fx = *state;
    char missing_db[400], out[400];
    char *bad_date[] = {"--db", fx->path, "--clinic", "North", "--from", "2026-02-30", "--to",
                        "2026-03-01", "--format", "csv"};
    char *no_to[] = {"--db", fx->path, "--clinic", "North", "--from", "2026-02-01",
                     "--format", "csv"};
    char *bad_format[] = {"--db", fx->path, "--clinic", "North", "--from", "2026-11-01", "--to",
                          "2026-11-30", "--format", "xml"};
    char *unknown_opt[] = {"--db", fx->path, "--colour", "red"};
    char *no_value[] = {"--db", fx->path, "--clinic"};
    char *twice[] = {"--db", fx->path, "--db", fx->path};
    char *unknown_clinic[] = {"--db", fx->path, "--clinic", "Nowhere", "--from", "2026-11-01",
                              "--to", "2026-11-30", "--format", "csv", "--out", out};
    char *no_db[] = {"--db", missing_db, "--clinic", "North", "--from", "2026-11-01", "--to",
                     "2026-11-30", "--format", "csv"};

    snprintf(missing_db, sizeof missing_db, "%s/nope.db", fx->dir);
    snprintf(out, sizeof out, "%s/out.csv", fx->dir);
    assert_int_equal(report_cmd(10, bad_date), 1);
    assert_int_equal(report_cmd(8, no_to), 2);
    assert_int_equal(report_cmd(10, bad_format), 1);
    assert_int_equal(report_cmd(4, unknown_opt), 2);
    assert_int_equal(report_cmd(3, no_value), 2);
    assert_int_equal(report_cmd(4, twice), 2);
    assert_int_equal(report_cmd(12, unknown_clinic), 1);
    assert_int_equal(access(out, F_OK), -1);   /* no output file for a failed report */
    assert_int_equal(report_cmd(10, no_db), 1);
    assert_int_equal(access(missing_db, F_OK), -1); /* and no stray database */
}

/* A write that fails halfway (here: the file size limit) must not leave a
 * truncated report that looks complete. */
static void test_cmd_failed_write_removes_out(void **state)
{
    fixture *fx = *state;
    char out[400];
    char *argv[] = {"--db", fx->path, "--clinic", "North", "--from", "2026-11-01", "--to",
                    "2026-11-30", "--format", "html", "--out", out};
    struct rlimit old, small;
    void (*old_handler)(int);
    int rc;

    snprintf(out, sizeof out, "%s/out.csv", fx->dir);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 512;  /* the HTML is several KiB */
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    rc = report_cmd(12, argv);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, 1);
    assert_int_equal(access(out, F_OK), -1);
}

/* One truth: a cycle the sterilizer called "pass" but R4 failed (below the
 * program's minimum) is failed in the counts, the days and the log, with
 * the sterilizer's own verdict beside it. Maintenance notices are counted
 * apart; a withdrawn alert is listed as WITHDRAWN and not counted; a
 * pending check is no alert at all. */
static void test_r4_verdict_is_the_one_truth(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "", *html, *json;

    add_device(fx->db, "dev-w1", "West", NULL);
    add_record(fx->db, "dev-w1", 1, "2026-11-02T07:00:00.000Z", "sterilization.cycle",
               E_CYCLE(1, "W-L1", "pass", "133.9", ""));
    add_record(fx->db, "dev-w1", 2, "2026-11-02T08:00:00.000Z", "sterilization.cycle",
               E_CYCLE(2, "W-L2", "pass", "134.6", ""));
    add_alert(fx->db, "R4", "cycle-failed", "dev-w1", "West", "load:W-L1",
              "{\"sterilizer_id\":\"ac-e\",\"device\":\"dev-w1\",\"seq\":1,"
              "\"ts\":\"2026-11-02T07:00:00.000Z\",\"reasons\":[\"temperature\"]}",
              "2026-11-02T07:00:01.000Z", NULL, NULL, NULL);
    add_alert(fx->db, "R3", "maintenance", "dev-w1", "West", "wear:C1",
              "{\"device\":\"dev-w1\",\"seq\":2}", "2026-11-02T08:30:00.000Z", NULL, NULL, NULL);
    add_alert(fx->db, "R5", "critical", "dev-w1", "West", "no-cycle:S1:g1",
              "{\"device\":\"dev-w1\",\"seq\":2}", "2026-11-02T08:40:00.000Z", NULL, NULL,
              "2026-11-02T09:00:00.000Z");
    testdb_exec(fx->db, "UPDATE alerts SET state = 'withdrawn' WHERE cause = 'no-cycle:S1:g1'");
    add_alert(fx->db, "R5", "pending", "dev-w1", "West", "pending:9", "{}",
              "2026-11-02T08:50:00.000Z", NULL, NULL, "2026-11-02T08:50:00.000Z");
    testdb_exec(fx->db, "UPDATE alerts SET state = 'pending' WHERE cause = 'pending:9'");
    if (report_data_load(fx->db, "West", "2026-11-01", "2026-11-30", GEN_AT, &d, err, sizeof err))
        fail_msg("report_data_load: %s", err);
    assert_int_equal(d.total.count[RC_CYCLES_PASSED], 1);
    assert_int_equal(d.total.count[RC_CYCLES_FAILED], 1);
    assert_int_equal(d.days[1].cycles_passed, 1);
    assert_int_equal(d.days[1].cycles_failed, 1);
    assert_int_equal(d.ncycles, 2);
    assert_true(d.cycles[0].failed && d.cycles[0].r4_failed);
    assert_string_equal(d.cycles[0].r4_reasons, "temperature");
    assert_string_equal(d.cycles[0].result, "pass");
    assert_false(d.cycles[1].failed);
    assert_int_equal(d.nviolations, 3);       /* listed: R4, R3, R5 withdrawn; not the pending */
    assert_int_equal(d.nviolations_counted, 1);
    assert_int_equal(d.nnotices, 1);
    assert_int_equal(d.nwithdrawn, 1);
    assert_int_equal(d.nrules, 1);
    assert_string_equal(d.rules[0].rule, "R4");
    assert_false(d.no_records);

    html = render(report_html_write, &d);
    assert_non_null(strstr(html, "WITHDRAWN"));
    assert_non_null(strstr(html, "<h2>Maintenance notices</h2>"));
    assert_non_null(strstr(html, "Attention: 1 violation(s)"));
    assert_non_null(strstr(html, "R4: temperature"));
    assert_non_null(strstr(html, "sterilizer: pass"));
    json = render(report_json_write, &d);
    cJSON *root = cJSON_Parse(json), *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(sum, "cycles_failed")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(sum, "violations")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(sum, "maintenance_notices")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(sum, "withdrawn")->valueint, 1);
    cJSON *log0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "sterilizer_log"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(log0, "verdict")->valuestring, "failed");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(log0, "result")->valuestring, "pass");
    cJSON_Delete(root);
    free(json);
    free(html);
    report_data_free(&d);
}

/* A period with no records says so, never "every cycle passed". */
static void test_empty_period_says_no_records(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "", *html, *json, verdict[512];
    bool bad;

    add_device(fx->db, "dev-w1", "West", NULL);
    if (report_data_load(fx->db, "West", "2026-12-01", "2026-12-31", GEN_AT, &d, err, sizeof err))
        fail_msg("report_data_load: %s", err);
    assert_true(d.no_records);
    report_verdict(&d, verdict, sizeof verdict, &bad);
    assert_false(bad);
    assert_string_equal(verdict, "No records in this period: the clinic's devices logged no "
                                 "session, cartridge, sterilization cycle or test from 2026-12-01 "
                                 "to 2026-12-31.");
    html = render(report_html_write, &d);
    assert_null(strstr(html, "Every sterilization cycle passed"));
    assert_non_null(strstr(html, "verdict none"));
    json = render(report_json_write, &d);
    assert_non_null(strstr(json, "\"no_records\":true"));
    free(json);
    free(html);
    report_data_free(&d);
}

/* ---- a registered clinic: its name, its zone, its local days ---- */

static void register_clinic(sqldb *db, const char *id, const char *name, const char *tz,
                            const char *address, const char *licence)
{
    sqldb_stmt *st = prepare(db, "INSERT INTO clinics(clinic_id, name, timezone, address, licence,"
                                 " added_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5,"
                                 " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')");
    const char *v[] = {id, name, tz, address, licence};
    for (int i = 0; i < 5; i++)
        assert_int_equal(sqldb_bind_text(st, i + 1, v[i]), 0);
    run_stmt(db, st);
}

/* Clinic Pacific, in Los Angeles. An evening session 18:00-22:00 PST on
 * 2026-11-02 (02:00-06:00 UTC on the 3rd) is that day's. The period's ends
 * are local midnights: 2026-11-01 00:00 PDT is 07:00Z, 2026-12-01 00:00
 * PST is 08:00Z (2026-11-01 is the 25-hour day DST ends). */
static void fill_pacific(fixture *fx)
{
    sqldb *db = fx->db;

    assert_int_equal(sqldb_begin(db, SQLDB_WRITE), 0);
    register_clinic(db, "Pacific", "Sunset Scalp & Skin", "America/Los_Angeles",
                    "1 Ocean Ave, Santa Monica", "CA-BA-0042");
    add_device(db, "dev-p1", "Pacific", NULL);
    add_record(db, "dev-p1", 1, "2026-11-01T06:59:59.999Z", "session.start", START); /* out */
    add_record(db, "dev-p1", 2, "2026-11-01T07:00:00.000Z", "session.start", START); /* in */
    add_record(db, "dev-p1", 3, "2026-11-03T02:00:00.000Z", "session.start", START);
    add_record(db, "dev-p1", 4, "2026-11-03T02:05:00.000Z", "cartridge.insert", INSERT("P1"));
    add_record(db, "dev-p1", 5, "2026-11-03T03:00:00.000Z", "sterilization.cycle", CYCLE("pass"));
    add_record(db, "dev-p1", 6, "2026-11-03T06:00:00.000Z", "session.end", END(4200));
    add_record(db, "dev-p1", 7, "2026-12-01T07:59:59.999Z", "session.start", START); /* in */
    add_record(db, "dev-p1", 8, "2026-12-01T08:00:00.000Z", "session.start", START); /* out */
    add_alert(db, "R2", "critical", "dev-p1", "Pacific", "expired:P1",
              "{\"device\":\"dev-p1\",\"seq\":4,\"ts\":\"2026-11-03T02:05:00.000Z\"}",
              "2026-11-03T02:05:01.000Z", NULL, NULL, NULL);
    assert_int_equal(sqldb_commit(db), 0);
}

static void load_pacific(fixture *fx, report_data *d)
{
    char err[512] = "";

    fill_pacific(fx);
    if (report_data_load(fx->db, "Pacific", "2026-11-01", "2026-11-30", GEN_AT, d, err,
                         sizeof err) != 0)
        fail_msg("report_data_load: %s", err);
}

static void test_days_are_local_days(void **state)
{
    fixture *fx = *state;
    report_data d;

    load_pacific(fx, &d);
    assert_string_equal(d.from_ts, "2026-11-01T07:00:00.000Z");
    assert_string_equal(d.until_ts, "2026-12-01T08:00:00.000Z");
    assert_int_equal(d.ndays, 30);
    assert_string_equal(d.days[0].date, "2026-11-01");
    assert_string_equal(d.days[0].start_ts, "2026-11-01T07:00:00.000Z");
    assert_string_equal(d.days[1].start_ts, "2026-11-02T08:00:00.000Z");
    assert_string_equal(d.days[29].start_ts, "2026-11-30T08:00:00.000Z");
    assert_int_equal(d.total.count[RC_SESSIONS], 3);
    assert_int_equal(d.days[0].sessions, 1);
    /* The evening session, its strokes and the cycle run during it: one day. */
    assert_string_equal(d.days[1].date, "2026-11-02");
    assert_int_equal(d.days[1].sessions, 1);
    assert_int_equal(d.days[1].strokes, 4200);
    assert_int_equal(d.days[1].cycles_passed, 1);
    assert_int_equal(d.days[2].sessions + d.days[2].strokes + d.days[2].cycles_passed, 0);
    assert_int_equal(d.days[29].sessions, 1);
    assert_int_equal(d.nviolations, 1);
    report_data_free(&d);
}

static void contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("the output does not contain: %s", part);
}

static void test_header_names_clinic_and_zone(void **state)
{
    fixture *fx = *state;
    report_data d;
    char *html, *json, *pdf, err[512] = "";
    cJSON *j;

    load_pacific(fx, &d);
    html = render(report_html_write, &d);
    contains(html, "<title>Compliance report: Sunset Scalp &amp; Skin, 2026-11-01 to 2026-11-30"
                   "</title>");
    contains(html, "<h1>Compliance report: Sunset Scalp &amp; Skin</h1>");
    contains(html, "<p class=\"period\">Period 2026-11-01 to 2026-11-30 (local days in "
                   "America/Los_Angeles, both included)</p>");
    contains(html, "<dl class=\"meta\"><dt>Clinic</dt><dd>Sunset Scalp &amp; Skin</dd>"
                   "<dt>Clinic id</dt><dd>Pacific</dd><dt>Address</dt><dd>1 Ocean Ave, Santa "
                   "Monica</dd><dt>Licence</dt><dd>CA-BA-0042</dd><dt>Time zone</dt><dd>"
                   "America/Los_Angeles</dd><dt>Devices</dt><dd>1</dd><dt>Generated</dt><dd>"
                   "2026-12-02 00:00 PST</dd></dl>");
    /* Local times with the zone named: the cycle, the alert, the cited record. */
    contains(html, "<td class=\"d\">2026-11-02<small>19:00 PST</small></td>");
    contains(html, "<td class=\"d\">2026-11-02<small>18:05 PST</small></td>");
    contains(html, "seq 4 &middot; cartridge.insert &middot; 2026-11-02 18:05 PST");
    contains(html, "<title>2026-11-02: 1 passed, 0 failed or aborted</title>");
    assert_null(strstr(html, "(UTC"));
    free(html);

    json = render(report_json_write, &d);
    assert_non_null(j = cJSON_Parse(json));
    assert_string_equal(item(j, "clinic")->valuestring, "Pacific");
    assert_string_equal(item(j, "clinic_name")->valuestring, "Sunset Scalp & Skin");
    assert_string_equal(item(j, "clinic_address")->valuestring, "1 Ocean Ave, Santa Monica");
    assert_string_equal(item(j, "clinic_licence")->valuestring, "CA-BA-0042");
    assert_true(cJSON_IsTrue(item(j, "clinic_registered")));
    assert_string_equal(item(j, "period.timezone")->valuestring, "America/Los_Angeles");
    assert_string_equal(item(j, "period.from_utc")->valuestring, "2026-11-01T07:00:00.000Z");
    assert_string_equal(item(j, "period.until_utc")->valuestring, "2026-12-01T08:00:00.000Z");
    assert_string_equal(item(j, "generated_at")->valuestring, GEN_AT);
    assert_string_equal(item(j, "generated_at_local")->valuestring, "2026-12-02T00:00:00-08:00");
    assert_string_equal(item(j, "days.1.date")->valuestring, "2026-11-02");
    assert_string_equal(item(j, "days.1.starts_at")->valuestring, "2026-11-02T08:00:00.000Z");
    assert_int_equal(item(j, "days.1.sessions")->valueint, 1);
    assert_string_equal(item(j, "sterilizer_log.0.ts")->valuestring, "2026-11-03T03:00:00.000Z");
    assert_string_equal(item(j, "sterilizer_log.0.ts_local")->valuestring,
                        "2026-11-02T19:00:00-08:00");
    assert_string_equal(item(j, "violations.0.raised_at")->valuestring,
                        "2026-11-03T02:05:01.000Z");
    assert_string_equal(item(j, "violations.0.raised_at_local")->valuestring,
                        "2026-11-02T18:05:01-08:00");
    assert_true(cJSON_IsNull(item(j, "violations.0.cleared_at_local")));
    /* Evidence and the cited records stay as stored: UTC. */
    assert_string_equal(item(j, "violations.0.evidence.ts")->valuestring,
                        "2026-11-03T02:05:00.000Z");
    assert_string_equal(item(j, "violations.0.records.0.ts")->valuestring,
                        "2026-11-03T02:05:00.000Z");
    cJSON_Delete(j);
    free(json);
    pdf = render(report_pdf_write, &d);
    assert_int_equal(strncmp(pdf, "%PDF-", 5), 0);
    free(pdf);
    report_data_free(&d);

    /* A clinic nobody registered: its id, in UTC, and the report says so. */
    if (report_data_load(fx->db, "North", "2026-11-01", "2026-11-30", GEN_AT, &d, err,
                         sizeof err) != 0)
        fail_msg("report_data_load: %s", err);
    assert_false(d.clinic_registered);
    html = render(report_html_write, &d);
    contains(html, "<h1>Compliance report: North</h1>");
    contains(html, "(local days in UTC, both included)");
    contains(html, "<dl class=\"meta\"><dt>Clinic</dt><dd>North</dd><dt>Clinic id</dt><dd>North"
                   "</dd><dt>Time zone</dt><dd>UTC (clinic not registered)</dd>");
    free(html);
    report_data_free(&d);
}

/* A registered zone the tz database cannot give stops the report: a
 * report in another calendar than the clinic's would mislead. */
static void test_unusable_zone_is_an_error(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "";

    fill_pacific(fx);
    testdb_exec(fx->db, "UPDATE clinics SET timezone = 'Mars/Olympus_Mons'");
    assert_int_equal(report_data_load(fx->db, "Pacific", "2026-11-01", "2026-11-30", GEN_AT, &d,
                                      err, sizeof err), -1);
    assert_string_equal(err, "clinic 'Pacific': timezone 'Mars/Olympus_Mons' is not in the system "
                             "tz database (/usr/share/zoneinfo/Mars/Olympus_Mons: No such file or "
                             "directory); give an IANA name such as America/Los_Angeles (ls "
                             "/usr/share/zoneinfo lists them); set a zone of the tz database with "
                             "smpctl clinic set Pacific --timezone ZONE");
}

static char *read_text(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return slurp(path);
}

/* The audit export's README and manifest name the clinic and its zone. */
static void test_export_names_clinic_and_zone(void **state)
{
    fixture *fx = *state;
    char pki_dir[400], key[450], out[400], cmd[900];
    char *argv_init[] = {"init", "--dir", pki_dir};
    char *argv_key[] = {"issue-export", "--dir", pki_dir};
    char *argv[] = {"--db", fx->path, "--clinic", "Pacific", "--from", "2026-11-01", "--to",
                    "2026-11-30", "--out", out, "--key", key};
    char *readme, *text;
    cJSON *m;

    fill_pacific(fx);
    snprintf(pki_dir, sizeof pki_dir, "%s/pki", fx->dir);
    snprintf(key, sizeof key, "%s/export.key", pki_dir);
    snprintf(out, sizeof out, "%s/bundle", fx->dir);
    assert_int_equal(pki_cmd(3, argv_init), 0);
    assert_int_equal(pki_cmd(3, argv_key), 0);
    assert_int_equal(export_cmd(12, argv), 0);
    readme = read_text(out, "README.txt");
    contains(readme, "Clinic:    Sunset Scalp & Skin (id Pacific)\n"
                     "Address:   1 Ocean Ave, Santa Monica\n"
                     "Licence:   CA-BA-0042\n"
                     "Time zone: America/Los_Angeles\n"
                     "Period:    2026-11-01 to 2026-11-30 (local days in America/Los_Angeles, "
                     "both included:\n"
                     "           2026-11-01T07:00:00.000Z to 2026-12-01T08:00:00.000Z UTC)\n");
    contains(readme, "Times in the CSV files are UTC, as the records hold them; report.pdf "
                     "shows\nthem in the clinic's time zone, with the zone named.");
    text = read_text(out, "manifest.json");
    assert_non_null(m = cJSON_Parse(text));
    assert_string_equal(item(m, "clinic")->valuestring, "Pacific");
    assert_true(cJSON_IsTrue(item(m, "clinic_details.registered")));
    assert_string_equal(item(m, "clinic_details.name")->valuestring, "Sunset Scalp & Skin");
    assert_string_equal(item(m, "clinic_details.address")->valuestring,
                        "1 Ocean Ave, Santa Monica");
    assert_string_equal(item(m, "clinic_details.licence")->valuestring, "CA-BA-0042");
    assert_string_equal(item(m, "clinic_details.timezone")->valuestring, "America/Los_Angeles");
    assert_string_equal(item(m, "period.timezone")->valuestring, "America/Los_Angeles");
    assert_string_equal(item(m, "period.from_utc")->valuestring, "2026-11-01T07:00:00.000Z");
    assert_string_equal(item(m, "period.until_utc")->valuestring, "2026-12-01T08:00:00.000Z");
    cJSON_Delete(m);
    free(text);
    free(readme);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", out, pki_dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_month_counts_and_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_struct_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_to_day_included_next_day_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mid_month_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_day_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_year_end_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_clinic_excluded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_clinic_is_error, setup, teardown),
        cmocka_unit_test(test_period_validation),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test_setup_teardown(test_html_escapes_and_is_self_contained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_writes_csv_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_failed_write_removes_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_and_days_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violations_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sterilizer_log_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_parses_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_has_charts_and_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_search_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r4_verdict_is_the_one_truth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_period_says_no_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_days_are_local_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_names_clinic_and_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_zone_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_names_clinic_and_zone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
