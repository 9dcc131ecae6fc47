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

#include "evidence_text.h"
#include "export.h"
#include "pki.h"
#include "record.h"
#include "report.h"
#include "report_csv.h"
#include "report_pdf.h"
#include "report_data.h"
#include "report_html.h"
#include "report_json.h"
#include "testdb.h"
#include "textwrap.h"
#include "tzlocal.h"

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
/* Each cycle of a clinic's sterilizer has its own number: the same
 * (sterilizer_id, cycle_no) from two records is one cycle logged twice. */
#define CYCLE(result) CYCLE_N(7, result)
#define CYCLE_N(no, result)                                                                \
    "\"ci_result\":\"pass\",\"cycle_no\":" #no ",\"dry_s\":900,\"exposure_s\":240,"       \
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
    add_record(db, "dev-n1", 12, "2026-11-10T09:00:00.000Z", "sterilization.cycle",
               CYCLE_N(8, "fail"));
    add_record(db, "dev-n1", 13, "2026-11-10T10:00:00.000Z", "sterilization.cycle",
               CYCLE_N(9, "aborted"));
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
    add_record(db, "dev-n2", 4, "2026-11-06T08:00:00.000Z", "sterilization.cycle",
               CYCLE_N(10, "pass"));
    add_record(db, "dev-n2", 5, "2026-11-07T08:00:00.000Z", "sterilization.cycle",
               CYCLE_N(11, "pass"));

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
                   "America/Los_Angeles</dd><dt>Devices</dt><dd>1</dd><dt>Sterilizers</dt><dd>"
                   "st-1 (not registered)</dd><dt>Generated</dt><dd>2026-12-02 00:00 PST</dd>"
                   "</dl>");
    /* Local times with the zone named: the cycle, the alert, the cited record. */
    contains(html, "<td class=\"d\">2026-11-02<small>19:00 PST</small></td>");
    contains(html, "<td class=\"d\">2026-11-02<small>18:05 PST</small></td>");
    contains(html, "<div class=\"rec\">dev-p1 #4, 2026-11-02 18:05 PST: Cartridge P1 inserted, SKU "
                   "0603RL, 3 needles, configuration 3RL, lot L1, expiry 2027-01-01, session s-1"
                   "</div>");
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
    contains(readme, "Sterilizers:\n  st-1: not registered (named by the period's records)\n");
    contains(readme, "The logs hold the period's local days. Their times are UTC, as the "
                     "records\nhold them (time_utc, *_ts), each beside the same time in the "
                     "clinic's time zone\nwith the zone named (time_local, *_local), as "
                     "report.pdf shows them.");
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

/* ---- evidence as fields people read (evidence_text) ---- */

/* The evidence shapes as the collector writes them (collector/rules_*.c,
 * integrity.c, ingest.c, verifier.c), in a clinic in Los Angeles. */
static const tzlocal_zone *los_angeles(void)
{
    const tzlocal_zone *z;
    char err[256];

    if (tzlocal_load("America/Los_Angeles", &z, err, sizeof err) != 0)
        fail_msg("%s", err);
    return z;
}

static void expect_evidence(const char *rule, const char *evidence, const char *expected)
{
    report_violation v = {.rule = rule, .evidence = evidence};
    char out[EVTEXT_MAX];

    evtext_alert(los_angeles(), &v, out, sizeof out);
    if (strcmp(out, expected) != 0)
        fail_msg("%s evidence\n  %s\nreads\n  %s\nexpected\n  %s", rule, evidence, out, expected);
}

#define H_A "1c02843c8c998aa6289e042655a9c43a8398825af9b992ea6f412ca558fe9f1b"
#define H_B "389842b27dde28148daa97d7dbe839fa8899966020919a6f683ae49f00558f35"

static void test_evidence_fields_each_rule(void **state)
{
    (void)state;
    expect_evidence("R1",
                    "{\"cartridge_uid\":\"C1\",\"first\":{\"device\":\"chair-01\",\"seq\":12,"
                    "\"ts\":\"2026-11-02T16:14:02.000Z\",\"session_id\":\"S1\"},\"reuse\":"
                    "{\"device\":\"chair-02\",\"seq\":40,\"ts\":\"2026-11-03T17:00:00.000Z\","
                    "\"session_id\":\"S2\"}}",
                    "Cartridge C1, first inserted 2026-11-02 08:14 PST on chair-01, session S1\n"
                    "Inserted again 2026-11-03 09:00 PST on chair-02, session S2");
    /* The issue's own example, word for word. */
    expect_evidence("R2",
                    "{\"cartridge_uid\":\"C1\",\"session_id\":\"S1\",\"device\":\"chair-01\","
                    "\"seq\":6,\"ts\":\"2026-11-02T16:14:02.000Z\",\"expiry\":\"2026-11-01\","
                    "\"lot\":\"LOT-1\",\"local_date\":\"2026-11-02\",\"timezone\":"
                    "\"America/Los_Angeles\"}",
                    "Cartridge C1, lot LOT-1, expiry 2026-11-01, inserted 2026-11-02 08:14 PST on "
                    "chair-01, session S1");
    expect_evidence("R2",
                    "{\"cartridge_uid\":\"C2\",\"session_id\":\"S1\",\"device\":\"chair-01\","
                    "\"seq\":7,\"ts\":\"2026-11-02T16:20:00.000Z\",\"expiry\":\"2028-05-03\","
                    "\"lot\":null}",
                    "Cartridge C2, no lot number, expiry 2028-05-03, inserted 2026-11-02 08:20 PST "
                    "on chair-01, session S1");
    expect_evidence("R3",
                    "{\"cartridge_uid\":\"C4\",\"device\":\"chair-01\",\"seq\":226,\"ts\":"
                    "\"2026-11-02T20:06:00.000Z\",\"cartridge_run_s\":3617,\"cartridge_strokes\":"
                    "242339,\"cartridge_max_run_s\":3600,\"cartridge_max_strokes\":400000}",
                    "Cartridge C4 on chair-01, counted 2026-11-02 12:06 PST, in use 1 h 17 s "
                    "(limit 1 h), 242,339 strokes (limit 400,000)");
    expect_evidence("R4",
                    "{\"sterilizer_id\":\"ac-1\",\"cycle_no\":5,\"load_id\":\"L5\",\"program\":"
                    "\"prevac_134\",\"device\":\"chair-02\",\"seq\":864,\"ts\":"
                    "\"2026-11-03T21:28:00.000Z\",\"reasons\":[\"temperature\","
                    "\"chemical_indicator\",\"result\"],\"temp_min_c\":131.0,\"exposure_s\":200,"
                    "\"min_temp_c\":134.0,\"min_exposure_s\":180,\"ci_result\":\"fail\","
                    "\"result\":\"fail\",\"alarm_code\":\"E12-LOW-TEMP\"}",
                    "Sterilizer ac-1 cycle 5, load L5, program prevac_134, logged 2026-11-03 13:28 "
                    "PST by chair-02\n"
                    "Failed on: temperature, chemical indicator, the sterilizer's own result\n"
                    "Lowest temperature 131.0 °C (minimum 134.0 °C), exposure 200 s (minimum 180 "
                    "s), chemical indicator fail, sterilizer result fail, alarm E12-LOW-TEMP");
    expect_evidence("R5",
                    "{\"grip_id\":\"G1\",\"session_id\":\"S3\",\"load_id\":\"L9\",\"device\":"
                    "\"chair-01\",\"seq\":50,\"ts\":\"2026-11-04T18:00:00.000Z\",\"cycle\":null}",
                    "Grip G1 from load L9, used 2026-11-04 10:00 PST on chair-01, session S3\n"
                    "No sterilization cycle of load L9 on record");
    expect_evidence("R5",
                    "{\"grip_id\":\"G2\",\"session_id\":\"S4\",\"load_id\":\"L3\",\"device\":"
                    "\"chair-01\",\"seq\":60,\"ts\":\"2026-11-06T18:00:00.000Z\",\"cycle\":"
                    "{\"sterilizer_id\":\"ac-1\",\"device\":\"chair-02\",\"seq\":30,\"ts\":"
                    "\"2026-11-03T15:00:00.000Z\",\"passed\":true},\"spore_test\":{\"device\":"
                    "\"chair-02\",\"seq\":70,\"ts\":\"2026-11-03T15:30:00.000Z\",\"read_ts\":"
                    "\"2026-11-05T16:00:00.000Z\",\"cycle_ts\":\"2026-11-03T15:00:00.000Z\"}}",
                    "Grip G2 from load L3, used 2026-11-06 10:00 PST on chair-01, session S4\n"
                    "Load's cycle: sterilizer ac-1, logged 2026-11-03 07:00 PST by chair-02, "
                    "passed\n"
                    "Positive spore test logged 2026-11-03 07:30 PST on chair-02, read 2026-11-05 "
                    "08:00 PST, carried by the cycle of 2026-11-03 07:00 PST");
    expect_evidence("R5",
                    "{\"grip_id\":\"G3\",\"session_id\":\"S5\",\"load_id\":\"L4\",\"device\":"
                    "\"chair-01\",\"seq\":61,\"ts\":\"2026-11-06T19:00:00.000Z\",\"cycle\":"
                    "{\"sterilizer_id\":\"ac-1\",\"device\":\"chair-01\",\"seq\":33,\"ts\":"
                    "\"2026-11-06T15:00:00.000Z\",\"passed\":false}}",
                    "Grip G3 from load L4, used 2026-11-06 11:00 PST on chair-01, session S5\n"
                    "Load's cycle: sterilizer ac-1, logged 2026-11-06 07:00 PST by chair-01, "
                    "failed");
    expect_evidence("R6",
                    "{\"sterilizer_id\":\"ac-1\",\"last_negative_ts\":\"2026-10-20T16:00:00.000Z\","
                    "\"first_seen_ts\":\"2026-10-01T16:00:00.000Z\",\"since_date\":\"2026-10-20\","
                    "\"today\":\"2026-10-29\",\"timezone\":\"America/Los_Angeles\",\"days\":9,"
                    "\"spore_interval_days\":7,\"spore_critical_days\":14}",
                    "Sterilizer ac-1, last negative spore test 2026-10-20, 9 days before "
                    "2026-10-29, due every 7 days, critical after 14 days");
    expect_evidence("R6",
                    "{\"sterilizer_id\":\"ac-1\",\"last_negative_ts\":null,\"first_seen_ts\":"
                    "\"2026-10-01T16:00:00.000Z\",\"since_date\":\"2026-10-01\",\"today\":"
                    "\"2026-10-29\",\"timezone\":\"America/Los_Angeles\",\"days\":28,"
                    "\"spore_interval_days\":7,\"spore_critical_days\":14}",
                    "Sterilizer ac-1, never tested negative since first seen 2026-10-01, 28 days "
                    "before 2026-10-29, due every 7 days, critical after 14 days");
    expect_evidence("R7",
                    "{\"sterilizer_id\":\"ac-1\",\"test\":{\"device\":\"chair-02\",\"seq\":70,"
                    "\"ts\":\"2026-11-05T16:00:00.000Z\",\"bi_lot\":\"BI-9\",\"read_ts\":"
                    "\"2026-11-06T16:00:00.000Z\",\"cycle_ts\":\"2026-11-05T15:00:00.000Z\","
                    "\"cycle_on_record\":true},\"last_negative_ts\":\"2026-10-29T16:00:00.000Z\","
                    "\"last_negative\":{\"device\":\"chair-01\",\"seq\":20,\"ts\":"
                    "\"2026-10-29T16:00:00.000Z\",\"cycle_ts\":\"2026-10-29T15:00:00.000Z\","
                    "\"cycle_on_record\":true},\"window\":{\"after\":\"2026-10-29T15:00:00.000Z\","
                    "\"before\":null},\"loads\":[{\"load_id\":\"L1\",\"device\":\"chair-01\","
                    "\"seq\":21},{\"load_id\":\"L2\",\"device\":\"chair-02\",\"seq\":31}],"
                    "\"loads_listed\":2,\"loads_total\":2,\"sessions\":[{\"session_id\":\"S1\","
                    "\"device\":\"chair-01\",\"seq\":25,\"load_id\":\"L1\"}],\"sessions_listed\":1,"
                    "\"sessions_total\":1}",
                    "Sterilizer ac-1, positive spore test, indicator lot BI-9, logged 2026-11-05 "
                    "08:00 PST on chair-02, read 2026-11-06 08:00 PST, carried by the cycle of "
                    "2026-11-05 07:00 PST\n"
                    "Last negative test logged 2026-10-29 09:00 PDT on chair-01, carried by the "
                    "cycle of 2026-10-29 08:00 PDT\n"
                    "Recall: loads processed after 2026-10-29 08:00 PDT, until a negative re-test "
                    "(none yet)\n"
                    "Loads to recall (2): L1, L2\n"
                    "Sessions reached (1): S1 on chair-01 (load L1)");
    /* Lists the evidence had to cut say how many there are. */
    expect_evidence("R7",
                    "{\"sterilizer_id\":\"ac-2\",\"test\":{\"device\":\"chair-02\",\"seq\":71,"
                    "\"ts\":\"2026-11-05T16:00:00.000Z\",\"bi_lot\":\"BI-9\",\"read_ts\":"
                    "\"2026-11-06T16:00:00.000Z\",\"cycle_ts\":\"2026-11-05T16:00:00.000Z\","
                    "\"cycle_on_record\":false},\"last_negative_ts\":null,\"last_negative\":null,"
                    "\"window\":{\"after\":null,\"before\":\"2026-11-09T16:00:00.000Z\"},"
                    "\"loads\":[{\"load_id\":\"L7\",\"device\":\"chair-02\",\"seq\":9}],"
                    "\"loads_listed\":1,\"loads_total\":60,\"sessions\":[],\"sessions_listed\":0,"
                    "\"sessions_total\":0}",
                    "Sterilizer ac-2, positive spore test, indicator lot BI-9, logged 2026-11-05 "
                    "08:00 PST on chair-02, read 2026-11-06 08:00 PST, carried by the cycle of "
                    "2026-11-05 08:00 PST (cycle not on record)\n"
                    "No negative spore test of this sterilizer on record\n"
                    "Recall: every load of this sterilizer on record, up to 2026-11-09 08:00 PST\n"
                    "Loads to recall (60, the first 1 listed): L7\n"
                    "Sessions reached: none");
    expect_evidence("R8",
                    "{\"session_id\":\"S1\",\"last_received_at\":\"2026-11-02T18:00:00.000Z\","
                    "\"silent_s\":2700,\"silent_after_s\":1800}",
                    "Session S1 open, last record received 2026-11-02 10:00 PST, silent 45 min "
                    "(limit 30 min) by the collector's clock");
    expect_evidence("R8",
                    "{\"session_id\":\"S1\",\"from\":{\"device\":\"chair-01\",\"seq\":10,\"ts\":"
                    "\"2026-11-02T18:00:00.000Z\"},\"to\":{\"device\":\"chair-01\",\"seq\":11,"
                    "\"ts\":\"2026-11-02T18:45:00.000Z\"},\"gap_s\":2700,\"session_gap_s\":600}",
                    "Session S1, no record from 2026-11-02 10:00 PST (#10) to 2026-11-02 10:45 "
                    "PST (#11), 45 min (limit 10 min) by the device's clock");
    expect_evidence("R9", "{\"seq\":41,\"prev\":\"" H_A "\",\"hash_of_previous\":\"" H_B "\"}",
                    "Record #41 names previous hash " H_A "\n"
                    "The record before it (#40) hashes to " H_B);
    expect_evidence("R9", "{\"seq\":1,\"prev\":\"" H_A "\",\"expected\":\"" ZEROS "\"}",
                    "Record #1 names previous hash " H_A "\nA chain starts with " ZEROS);
    expect_evidence("R9",
                    "{\"seq\":41,\"head_seq\":39,\"head_hash\":\"" H_A "\",\"prev\":\"" H_B "\"}",
                    "Checkpoint #41 names head #39 with hash " H_A "\n"
                    "The record before it (#40) has hash " H_B);
    expect_evidence("R9",
                    "{\"seq\":41,\"stored_hash\":\"" H_A "\",\"received_hash\":\"" H_B "\"}",
                    "Record #41 resent with different content\nStored hash " H_A
                    "\nReceived hash " H_B);
    expect_evidence("R9",
                    "{\"sterilizer_id\":\"ac-south\",\"cycle_no\":7,\"kept\":{\"device\":\"s-m01\","
                    "\"seq\":5,\"ts\":\"2026-11-02T17:00:00.000Z\"},\"conflicting\":{\"device\":"
                    "\"s-m02\",\"seq\":9,\"ts\":\"2026-11-02T17:01:00.000Z\"}}",
                    "Sterilizer ac-south cycle 7 logged twice with different content\n"
                    "Kept as the cycle: s-m01 #5, logged 2026-11-02 09:00 PST\n"
                    "Not counted: s-m02 #9, logged 2026-11-02 09:01 PST");
    expect_evidence("R9", "{\"missing_seq\":41,\"waiting_since\":\"2026-11-02T18:00:00.000Z\"}",
                    "Record #41 missing, later records waiting since 2026-11-02 10:00 PST");
    expect_evidence("R9",
                    "{\"seq\":41,\"reason\":\"strokes: not an integer\",\"hash\":\"" H_A "\"}",
                    "Record #41 refused: strokes: not an integer, kept in quarantine\nHash " H_A);
    expect_evidence("R9",
                    "{\"seq\":41,\"head_seq\":40,\"reason\":\"signature does not verify\","
                    "\"previous_certificates_tried\":1,\"unverified_through\":41}",
                    "Checkpoint #41 over records up to #40, signature: signature does not verify, "
                    "previous certificates tried: 1, records up to #41 have no verified signature");
    expect_evidence("R9", "{\"seq\":41}", "Record #41");
    expect_evidence("R10",
                    "{\"seq\":41,\"ts\":\"2026-11-02T19:00:00.000Z\",\"received_at\":"
                    "\"2026-11-02T18:00:00.000Z\"}",
                    "Record #41 timed 2026-11-02 11:00 PST by the device, received 2026-11-02 "
                    "10:00 PST by the collector");
    expect_evidence("R10",
                    "{\"seq\":42,\"ts\":\"2026-11-02T19:00:00.000Z\",\"received_at\":"
                    "\"2026-11-02T18:00:00.000Z\",\"ahead_s\":3600}",
                    "Record #42 timed 2026-11-02 11:00 PST by the device, received 2026-11-02 "
                    "10:00 PST by the collector, 1 h ahead");
    /* A shape this version does not know: member by member, never dropped. */
    expect_evidence("R99",
                    "{\"widget_id\":\"W1\",\"count\":3,\"ok\":true,\"when\":"
                    "\"2026-11-02T18:00:00.000Z\",\"parts\":[\"a\",\"b\"],\"ref\":{\"device\":"
                    "\"d\",\"seq\":5},\"none\":null}",
                    "Widget id W1, count 3, ok yes, when 2026-11-02 10:00 PST, parts (a; b), ref "
                    "(device d, record #5), none none");
    expect_evidence("R4", "{\"device\":\"dev-e1\",\"seq\":4,\"ts\":\"2026-11-02T09:00:00.000Z\"}",
                    "Device dev-e1, record #4, time 2026-11-02 01:00 PST");
    /* However deep a stored evidence nests, the reading stops at six levels. */
    expect_evidence("R99", "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", "A (((((((...)))))))");
    expect_evidence("R2", "not json", "not json");
    expect_evidence("R8", "{}", "No details recorded");
}

static void expect_record(const char *type, const char *payload, const char *expected)
{
    char body[1024], out[EVTEXT_MAX];

    snprintf(body, sizeof body, "{%s%s\"prev\":\"%s\",\"seq\":3,\"ts\":"
             "\"2026-11-02T10:00:00.000Z\",\"type\":\"%s\"}", payload, payload[0] ? "," : "",
             ZEROS, type);
    evtext_record(los_angeles(), type, body, out, sizeof out);
    if (strcmp(out, expected) != 0)
        fail_msg("%s reads\n  %s\nexpected\n  %s", type, out, expected);
}

static void test_cited_records_as_fields(void **state)
{
    report_cited c = {.device_id = "dev-e1", .seq = 6, .ts = "2026-11-02T10:01:00.000Z",
                      .type = "cartridge.insert"};
    char body[1024], out[EVTEXT_MAX];

    (void)state;
    expect_record("session.start", START,
                  "Session s-1 started, operator op-1, client c-1, treatment 1");
    expect_record("session.end", END(1000), "Session s-1 ended, needle running 1 h, 1,000 strokes");
    expect_record("cartridge.insert", INSERT("C1"),
                  "Cartridge C1 inserted, SKU 0603RL, 3 needles, configuration 3RL, lot L1, "
                  "expiry 2027-01-01, session s-1");
    expect_record("cartridge.remove",
                  "\"cartridge_uid\":\"C1\",\"reason\":\"session_end\",\"run_s\":60,"
                  "\"session_id\":\"s-1\",\"strokes\":300",
                  "Cartridge C1 removed (session end), in use 1 min, 300 strokes, session s-1");
    expect_record("usage.counters",
                  "\"cartridge_run_s\":10,\"cartridge_strokes\":10,\"motor_s_total\":7260,"
                  "\"strokes_total\":1234567",
                  "Counters: motor 2 h 1 min in total, 1,234,567 strokes in total");
    expect_record("usage.counters",
                  "\"cartridge_run_s\":70,\"cartridge_strokes\":10,\"cartridge_uid\":\"C1\","
                  "\"motor_s_total\":10,\"strokes_total\":10",
                  "Counters: motor 10 s in total, 10 strokes in total, cartridge C1 in use 1 min "
                  "10 s, 10 strokes");
    expect_record("grip.assign", "\"grip_id\":\"G1\",\"load_id\":\"L-1\",\"session_id\":\"s-1\"",
                  "Grip G1 from load L-1, session s-1");
    expect_record("sterilization.cycle", CYCLE("pass"),
                  "Sterilizer st-1 cycle 7, load L-7, program prevac_132, setpoint 132.0 °C, "
                  "measured 132.1–133.5 °C, exposure 240 s, pressure 300.0–310.0 kPa, drying "
                  "900 s, chemical indicator pass, result pass, operator op-1");
    expect_record("sterilization.cycle",
                  E_CYCLE(2, "E-L2", "fail", "128.5", ",\"alarm_code\":\"E12-LOW-TEMP\""),
                  "Sterilizer ac-e cycle 2, load E-L2, program prevac_134, setpoint 134.0 °C, "
                  "measured 128.5–135.9 °C, exposure 245 s, pressure 301.2–311.5 kPa, drying "
                  "1500 s, chemical indicator fail, result fail, alarm E12-LOW-TEMP, operator "
                  "op-9");
    expect_record("sterilization.test", TEST("spore", "negative"),
                  "Spore test of sterilizer st-1 cycle 7, indicator lot B1, result negative, read "
                  "2026-11-20 02:00 PST");
    expect_record("sterilization.test", TEST("bowie_dick", "positive"),
                  "Bowie-Dick test of sterilizer st-1 cycle 7, indicator lot B1, result positive, "
                  "read 2026-11-20 02:00 PST");
    expect_record("checkpoint", "\"head_hash\":\"" H_A "\",\"head_seq\":40,\"sig\":\"AAAA\"",
                  "Checkpoint: records up to #40 signed by the device, head hash " H_A);
    expect_record("widget.x", "\"a_b\":1", "Record widget.x, a b 1");

    snprintf(body, sizeof body, "{" INSERT("EC-1") ",\"prev\":\"%s\",\"seq\":6,\"ts\":"
             "\"2026-11-02T10:01:00.000Z\",\"type\":\"cartridge.insert\"}", ZEROS);
    c.body = body;
    assert_string_equal(evtext_cited(los_angeles(), &c, out, sizeof out),
                        "dev-e1 #6, 2026-11-02 02:01 PST: Cartridge EC-1 inserted, SKU 0603RL, 3 "
                        "needles, configuration 3RL, lot L1, expiry 2027-01-01, session s-1");
    c = (report_cited){.device_id = "dev-s1", .seq = 1};
    assert_string_equal(evtext_cited(los_angeles(), &c, out, sizeof out),
                        "dev-s1 #1: not in this clinic's records");
    /* Too long for the buffer: cut, and says so. */
    assert_string_equal(evtext_cited(los_angeles(), &c, out, 12), "dev-s1 #...");
}

/* ---- HTML: evidence as fields, raw records in the appendix ---- */

/* memmem without _GNU_SOURCE. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* Text between <pre class="body"> and </pre> from *at on, unescaped
 * (the five entities htmltext writes); NULL when there is none. */
static char *next_pre(const char **at)
{
    const char *s = strstr(*at, "<pre class=\"body\">"), *e;
    char *out, *o;

    if (!s)
        return NULL;
    s += strlen("<pre class=\"body\">");
    e = strstr(s, "</pre>");
    assert_non_null(e);
    out = o = calloc(1, (size_t)(e - s) + 1);
    assert_non_null(out);
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    while (s < e) {
        size_t k;
        for (k = 0; k < 5; k++)
            if (strncmp(s, ents[k].ent, strlen(ents[k].ent)) == 0)
                break;
        if (k < 5) {
            *o++ = ents[k].c;
            s += strlen(ents[k].ent);
        } else {
            *o++ = *s++;
        }
    }
    *at = e;
    return out;
}

/* The body the store holds for (device, seq). */
static char *stored_body(sqldb *db, const char *device, int seq)
{
    sqldb_stmt *st = prepare(db, "SELECT body FROM records WHERE device_id = ?1 AND seq = ?2");
    char *body;

    assert_int_equal(sqldb_bind_text(st, 1, device), 0);
    assert_int_equal(sqldb_bind_int64(st, 2, seq), 0);
    assert_int_equal(sqldb_step(st), 1);
    body = strdup(sqldb_column_text(st, 0));
    sqldb_finalize(st);
    return body;
}

static void test_html_evidence_fields_and_appendix(void **state)
{
    fixture *fx = *state;
    report_data d;
    const char *at;
    char *html, *viol, *pre;
    const int seqs[] = {1, 4, 6, 8};   /* East's cited records, by seq, once each */

    load_east(fx, &d);
    html = render(report_html_write, &d);
    /* The violations show fields, not JSON: no record body before the appendix. */
    viol = strstr(html, "<section id=\"violations\">");
    assert_non_null(viol);
    at = strstr(html, "<section id=\"appendix\"");
    assert_non_null(at);
    assert_null(find_bytes(viol, (size_t)(at - viol), "<pre", 4));
    assert_null(find_bytes(viol, (size_t)(at - viol), "{&quot;", 7));
    contains(html, "<th class=\"t\">Evidence and the records that prove it</th>");
    contains(html, "<td class=\"ev\"><div class=\"evl\">Device dev-e1, record #4, time "
                   "2026-11-02 09:00 UTC</div><div class=\"recs\">Records cited</div>"
                   "<div class=\"rec\">dev-e1 #4, 2026-11-02 09:00 UTC: Sterilizer ac-e cycle 2, "
                   "load E-L2, program prevac_134, setpoint 134.0 °C, measured 128.5–135.9 °C, "
                   "exposure 245 s, pressure 301.2–311.5 kPa, drying 1500 s, chemical indicator "
                   "fail, result fail, alarm E12-LOW-TEMP, operator op-9</div></td>");
    contains(html, "<div class=\"rec\">dev-s1 #1: not in this clinic&#39;s records</div>");
    contains(html, "<h2>Appendix: the cited records as stored</h2>");
    /* The appendix: each cited body of the clinic once, by device and seq,
     * byte for byte, with its SHA-256; never another clinic's. */
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        char *body = stored_body(fx->db, "dev-e1", seqs[i]), head[128], hash[RECORD_HASH_HEX];
        const char *h;
        snprintf(head, sizeof head, "<div class=\"rawh\"><strong>dev-e1 #%d</strong> &middot; ",
                 seqs[i]);
        h = strstr(at, head);
        if (!h)
            fail_msg("appendix has no entry for dev-e1 #%d", seqs[i]);
        assert_null(strstr(h + 1, head));
        record_sha256_hex(body, strlen(body), hash);
        assert_non_null(strstr(h, hash));
        assert_non_null(pre = next_pre(&h));
        assert_string_equal(pre, body);
        at = h;
        free(pre);
        free(body);
    }
    assert_null(next_pre(&at));          /* nothing more: dev-s1 #1 is not shown */
    assert_null(strstr(html, "dev-s1 #1</strong>"));
    free(html);
    report_data_free(&d);
}

/* ---- the PDF, read back ---- */

/* What a page of an uncompressed report PDF shows: its strings in
 * drawing order (one per Tj), and whether it is landscape. */
typedef struct pdf_page {
    bool landscape;
    char **text;
    size_t n;
} pdf_page;

typedef struct pdf_doc {
    pdf_page *page;
    size_t n;
    char *raw;
    size_t len;
} pdf_doc;

/* A PDF literal string from s (after its '('), unescaped; *end after ')'. */
static char *pdf_string(const char *s, const char **end)
{
    char *out = calloc(1, strlen(s) + 1), *o = out;

    assert_non_null(out);
    while (*s && *s != ')') {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        if (*s >= '0' && *s <= '7') {
            int v = 0;
            for (int k = 0; k < 3 && *s >= '0' && *s <= '7'; k++)
                v = v * 8 + (*s++ - '0');
            *o++ = (char)v;
        } else {
            char c = *s++;
            *o++ = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        }
    }
    *end = *s ? s + 1 : s;
    return out;
}

static pdf_doc pdf_read(char *raw, size_t len)
{
    pdf_doc doc = {.raw = raw, .len = len};
    const char *p = raw, *box = raw;

    /* libharu writes each page's dictionary (with its MediaBox) and then
     * its content stream, in page order. */
    while ((box = find_bytes(box, len - (size_t)(box - raw), "/MediaBox [ 0 0 ", 16)) != NULL) {
        double w, h;
        const char *s, *e;
        assert_int_equal(sscanf(box + 16, "%lf %lf", &w, &h), 2);
        s = find_bytes(box, len - (size_t)(box - raw), "stream", 6);
        assert_non_null(s);
        e = find_bytes(s, len - (size_t)(s - raw), "endstream", 9);
        assert_non_null(e);
        doc.page = realloc(doc.page, (doc.n + 1) * sizeof *doc.page);
        assert_non_null(doc.page);
        pdf_page *pg = &doc.page[doc.n++];
        *pg = (pdf_page){.landscape = w > h};
        for (p = s; p < e && (p = find_bytes(p, (size_t)(e - p), "(", 1)) != NULL;) {
            const char *after;
            char *text = pdf_string(p + 1, &after);
            if (strncmp(after, " Tj", 3) == 0) {
                pg->text = realloc(pg->text, (pg->n + 1) * sizeof *pg->text);
                assert_non_null(pg->text);
                pg->text[pg->n++] = text;
            } else {
                free(text);
            }
            p = after;
        }
        box = e;
    }
    return doc;
}

static void pdf_free(pdf_doc *doc)
{
    for (size_t i = 0; i < doc->n; i++) {
        for (size_t k = 0; k < doc->page[i].n; k++)
            free(doc->page[i].text[k]);
        free(doc->page[i].text);
    }
    free(doc->page);
    free(doc->raw);
}

static pdf_doc render_pdf(const report_data *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(report_pdf_write_uncompressed(f, d), 0);
    assert_int_equal(fclose(f), 0);
    return pdf_read(buf, len);
}

/* The index of page pg's first string equal to text from `from`, or -1. */
static long pdf_find(const pdf_page *pg, size_t from, const char *text)
{
    for (size_t i = from; i < pg->n; i++)
        if (strcmp(pg->text[i], text) == 0)
            return (long)i;
    return -1;
}

/* How many strings of the whole document equal text. */
static size_t pdf_count(const pdf_doc *doc, const char *text)
{
    size_t n = 0;
    for (size_t i = 0; i < doc->n; i++)
        for (size_t k = 0; k < doc->page[i].n; k++)
            n += strcmp(doc->page[i].text[k], text) == 0;
    return n;
}

/* The PDF's cross-reference table finds every object where it says: a
 * string that broke the file (an unescaped parenthesis, a stray byte
 * count) would shift them. */
static void assert_pdf_well_formed(const pdf_doc *doc)
{
    const char *sx, *x;
    long xref, count, first;

    assert_int_equal(strncmp(doc->raw, "%PDF-", 5), 0);
    assert_non_null(sx = strstr(doc->raw + doc->len - 40, "startxref"));
    xref = strtol(sx + 10, NULL, 10);
    assert_int_equal(strncmp(doc->raw + xref, "xref", 4), 0);
    assert_int_equal(sscanf(doc->raw + xref + 5, "%ld %ld", &first, &count), 2);
    x = strchr(doc->raw + xref + 5, '\n') + 1;
    for (long i = 0; i < count; i++, x += 20) {
        long off = strtol(x, NULL, 10);
        char want[32];
        if (x[17] != 'n')
            continue;
        snprintf(want, sizeof want, "%ld 0 obj", first + i);
        assert_int_equal(strncmp(doc->raw + off, want, strlen(want)), 0);
    }
}

/* The appendix of the PDF: for each cited record, its name, its SHA-256,
 * then lines that put back together are its bytes, exactly. */
static void test_pdf_appendix_holds_the_bytes(void **state)
{
    fixture *fx = *state;
    report_data d;
    pdf_doc doc;
    const int seqs[] = {1, 4, 6, 8};
    const pdf_page *pg = NULL;
    size_t at = 0;

    load_east(fx, &d);
    doc = render_pdf(&d);
    assert_pdf_well_formed(&doc);
    for (size_t i = 0; i < doc.n && !pg; i++)
        if (pdf_find(&doc.page[i], 0, "Appendix: the cited records as stored") >= 0)
            pg = &doc.page[i];
    assert_non_null(pg);
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        char *body = stored_body(fx->db, "dev-e1", seqs[i]), hash[RECORD_HASH_HEX], want[128];
        char *joined = calloc(1, strlen(body) + 1);
        long k;
        size_t n = 0;
        record_sha256_hex(body, strlen(body), hash);
        snprintf(want, sizeof want, "SHA-256 %s", hash);
        k = pdf_find(pg, at, want);
        if (k < 0)
            fail_msg("no SHA-256 line for dev-e1 #%d", seqs[i]);
        assert_non_null(strstr(pg->text[k - 1], "dev-e1 #"));
        for (k++; (size_t)k < pg->n && n < strlen(body); k++) {
            size_t l = strlen(pg->text[k]);
            assert_true(n + l <= strlen(body));
            memcpy(joined + n, pg->text[k], l);
            n += l;
        }
        assert_string_equal(joined, body);
        at = (size_t)k;
        free(joined);
        free(body);
    }
    assert_int_equal(pdf_count(&doc, "dev-s1 #1 · (not stored)"), 0);
    pdf_free(&doc);
    report_data_free(&d);
}

/* The same four charts as the HTML, drawn: titles, legends, axis labels
 * and the bars in the series' colours. */
static void test_pdf_has_the_charts(void **state)
{
    fixture *fx = *state;
    report_data d;
    pdf_doc doc;
    const pdf_page *pg;
    char *content;

    load_east(fx, &d);
    doc = render_pdf(&d);
    pg = &doc.page[0];
    assert_true(pdf_find(pg, 0, "Activity") >= 0);
    assert_true(pdf_find(pg, 0, "Treatment sessions per day") >= 0);
    assert_true(pdf_find(pg, 0, "Needle strokes per day") >= 0);
    assert_true(pdf_find(pg, 0, "Sterilization cycles per day") >= 0);
    assert_true(pdf_find(pg, 0, "Violations by rule") >= 0);
    assert_true(pdf_find(pg, 0, "failed or aborted") >= 0);
    assert_true(pdf_find(pg, 0, "11-01") >= 0);                 /* x labels */
    assert_true(pdf_find(pg, 0, "1.5k") >= 0 && pdf_find(pg, 0, "500") >= 0); /* strokes axis */
    assert_true(pdf_find(pg, 0, "1 Cartridge used in more than one session") >= 0);
    /* The bars: one passed and one failed cycle on 11-02, in their colours. */
    content = doc.raw;
    assert_non_null(strstr(content, "0.35 0.62 0.45 rg\n"));
    assert_non_null(strstr(content, "0.75 0.22 0.17 rg\n"));
    pdf_free(&doc);
    report_data_free(&d);
}

/* ---- wrapping ---- */

static double one_per_byte(void *ctx, const char *s, size_t len)
{
    (void)ctx;
    (void)s;
    return (double)len;
}

/* The lines of text wrapped at width (one unit a byte), '|' between. */
static char *wrapped_lines(const char *text, double width, bool verbatim)
{
    textwrap_line lines[64];
    size_t n = textwrap(text, strlen(text), width, verbatim, one_per_byte, NULL, lines, 64);
    char *out = calloc(1, 4 * strlen(text) + 64), *o = out;

    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s%.*s", i ? "|" : "", (int)lines[i].len, text + lines[i].off);
    return out;
}

static void expect_wrap(const char *text, double width, bool verbatim, const char *expected)
{
    char *got = wrapped_lines(text, width, verbatim);
    if (strcmp(got, expected) != 0)
        fail_msg("'%s' at width %g: %s, expected %s", text, width, got, expected);
    free(got);
}

static void test_wrap_breaks_between_words(void **state)
{
    char word[201], text[300], expected[400];

    (void)state;
    expect_wrap("the quick brown fox jumps over the lazy dog", 10, false,
                "the quick|brown fox|jumps over|the lazy|dog");
    expect_wrap("the quick brown fox", 19, false, "the quick brown fox");   /* exactly fits */
    expect_wrap("the quick brown fox", 18, false, "the quick brown|fox");
    expect_wrap("a   b", 2, false, "a|b");                 /* spaces at a break dropped */
    expect_wrap("one\n\ntwo three", 5, false, "one||two|three");
    expect_wrap("", 5, false, "");
    /* A word longer than the line is the only thing ever cut. */
    memset(word, 'x', 200);
    word[200] = '\0';
    snprintf(text, sizeof text, "short %s end", word);
    snprintf(expected, sizeof expected, "short|%.50s|%.50s|%.50s|%.50s|end", word, word, word,
             word);
    expect_wrap(text, 50, false, expected);
    expect_wrap("abcdef", 0.5, false, "a|b|c|d|e|f");      /* narrower than a character */
    /* Verbatim: after a comma or space, nothing dropped or added. */
    expect_wrap("{\"a\":1,\"b\":\"x y\",\"c\":3}", 10, true, "{\"a\":1,|\"b\":\"x y\",|\"c\":3}");
    expect_wrap("{\"a\":1,\"b\":\"x y\",\"c\":3}", 9, true, "{\"a\":1,|\"b\":\"x |y\",\"c\":3}");
    expect_wrap("{\"abcdefghijkl\":1}", 8, true, "{\"abcdef|ghijkl\":|1}");
}

/* A long finding in the PDF breaks between its words: its lines, joined
 * with spaces, are the sentence. */
static void test_pdf_wraps_between_words(void **state)
{
    fixture *fx = *state;
    report_data d;
    pdf_doc doc;
    char err[512] = "", joined[2048] = "";
    const char *msg = "the sterilizer door seal was reported worn by the operator before the "
                      "cycle and the load was processed anyway although the chemical indicator "
                      "strip changed colour only partly along its length";
    long k = -1;
    size_t p = 0;

    add_device(fx->db, "dev-w1", "West", NULL);
    add_record(fx->db, "dev-w1", 1, "2026-11-02T07:00:00.000Z", "session.start", START);
    add_alert(fx->db, "R4", "cycle-failed", "dev-w1", "West", "load:W-L1", "{}",
              "2026-11-02T07:00:01.000Z", NULL, NULL, NULL);
    testdb_exec(fx->db, "UPDATE alerts SET message = 'the sterilizer door seal was reported worn "
                        "by the operator before the cycle and the load was processed anyway "
                        "although the chemical indicator strip changed colour only partly "
                        "along its length' WHERE cause = 'load:W-L1'");
    if (report_data_load(fx->db, "West", "2026-11-01", "2026-11-30", GEN_AT, &d, err, sizeof err))
        fail_msg("report_data_load: %s", err);
    doc = render_pdf(&d);
    for (size_t i = 0; i < doc.n && k < 0; i++) {
        const pdf_page *pg = &doc.page[i];
        for (size_t j = 0; j < pg->n && k < 0; j++)
            if (strncmp(pg->text[j], "the sterilizer door", 19) == 0)
                k = (long)j, p = i;
    }
    assert_true(k >= 0);
    for (const pdf_page *pg = &doc.page[p]; strlen(joined) < strlen(msg); k++) {
        const char *line = pg->text[k];
        assert_true(line[0] != ' ' && line[strlen(line) - 1] != ' ');
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s",
                 joined[0] ? " " : "", line);
    }
    assert_string_equal(joined, msg);
    assert_true(pdf_count(&doc, msg) == 0);               /* it did wrap */
    pdf_free(&doc);
    report_data_free(&d);
}

/* ---- pages: a table longer than a page, a row taller than a page ---- */

static void test_pdf_tables_continue_with_their_header(void **state)
{
    fixture *fx = *state;
    report_data d;
    pdf_doc doc;
    char err[512] = "", payload[1024], ts[32], evidence[8192];
    size_t landscape = 0, n = 0;
    long first_page = -1, last_page = -1;

    add_device(fx->db, "dev-w1", "West", NULL);
    for (int i = 1; i <= 90; i++) {
        snprintf(payload, sizeof payload,
                 "\"ci_result\":\"pass\",\"cycle_no\":%d,\"dry_s\":900,\"exposure_s\":240,"
                 "\"load_id\":\"W-L%d\",\"operator_id\":\"op-1\",\"pressure_max_kpa\":310.0,"
                 "\"pressure_min_kpa\":300.0,\"program\":\"prevac_134\",\"result\":\"pass\","
                 "\"setpoint_c\":134.0,\"sterilizer_id\":\"ac-w\",\"temp_max_c\":135.5,"
                 "\"temp_min_c\":134.1", i, i);
        snprintf(ts, sizeof ts, "2026-11-%02dT%02d:00:00.000Z", (1 + i / 8) % 100, (8 + i % 8) % 100);
        add_record(fx->db, "dev-w1", i, ts, "sterilization.cycle", payload);
    }
    /* An R7 whose evidence lists 50 sessions: taller than a page. */
    n = (size_t)snprintf(evidence, sizeof evidence, "{\"sterilizer_id\":\"ac-w\",\"test\":"
                         "{\"device\":\"dev-w1\",\"seq\":90,\"ts\":\"2026-11-12T10:00:00.000Z\","
                         "\"bi_lot\":\"BI-1\",\"read_ts\":\"2026-11-13T10:00:00.000Z\","
                         "\"cycle_ts\":\"2026-11-12T10:00:00.000Z\",\"cycle_on_record\":true},"
                         "\"last_negative\":null,\"window\":{\"after\":null,\"before\":null},"
                         "\"loads\":[],\"loads_listed\":0,\"loads_total\":0,\"sessions\":[");
    for (int i = 1; i <= 50; i++)
        n += (size_t)snprintf(evidence + n, sizeof evidence - n, "%s{\"session_id\":"
                              "\"session-number-%02d\",\"device\":\"dev-w1\",\"seq\":%d,"
                              "\"load_id\":\"W-L%d\"}", i > 1 ? "," : "", i, i, i);
    snprintf(evidence + n, sizeof evidence - n, "],\"sessions_listed\":50,\"sessions_total\":50}");
    add_alert(fx->db, "R7", "critical", "dev-w1", "West", "positive:ac-w", evidence,
              "2026-11-13T10:00:01.000Z", NULL, NULL, NULL);
    if (report_data_load(fx->db, "West", "2026-11-01", "2026-11-30", GEN_AT, &d, err, sizeof err))
        fail_msg("report_data_load: %s", err);
    doc = render_pdf(&d);
    assert_pdf_well_formed(&doc);
    /* The sterilizer log: landscape pages, each starting with the header. */
    for (size_t i = 0; i < doc.n; i++) {
        if (!doc.page[i].landscape)
            continue;
        landscape++;
        assert_true(pdf_find(&doc.page[i], 0, "Pressure kPa") >= 0);
        assert_true(pdf_find(&doc.page[i], 0, "Spore") >= 0);
    }
    assert_true(landscape >= 2);
    assert_int_equal(pdf_count(&doc, "Pressure kPa"), landscape);
    assert_true(pdf_find(&doc.page[doc.n - 1], 0, "Signature") >= 0);
    /* The tall row goes on over pages, under the header again, to its end:
     * the evidence, its 16 cited records and the count of the rest. */
    for (size_t i = 0; i < doc.n; i++) {
        for (size_t k = 0; k < doc.page[i].n; k++) {
            if (strstr(doc.page[i].text[k], "session-number-01") && first_page < 0)
                first_page = (long)i;
            if (strcmp(doc.page[i].text[k], "and 35 more record(s) named in the evidence") == 0)
                last_page = (long)i;
        }
    }
    assert_true(first_page > 0 && last_page > first_page);
    for (long i = first_page; i <= last_page; i++)
        assert_true(pdf_find(&doc.page[i], 0, "Evidence and the records that prove it") >= 0);
    pdf_free(&doc);
    report_data_free(&d);
}

/* ---- the signature block ---- */

static void test_signature_block(void **state)
{
    fixture *fx = *state;
    char out[400], *html, err[512];
    char *with[] = {"--db", fx->path, "--clinic", "Pacific", "--from", "2026-11-01", "--to",
                    "2026-11-30", "--format", "html", "--out", out, "--signatory",
                    "Dr. Jane Roe, MD, Clinic director"};
    char *bad[] = {"--db", fx->path, "--clinic", "Pacific", "--from", "2026-11-01", "--to",
                   "2026-11-30", "--format", "html", "--out", out, "--signatory", ", Owner"};
    report_data d;
    pdf_doc doc;
    const pdf_page *last;

    fill_pacific(fx);
    snprintf(out, sizeof out, "%s/out.csv", fx->dir);
    assert_int_equal(report_cmd(14, with), 0);
    html = slurp(out);
    contains(html, "<section id=\"signature\">\n<h2>Signature</h2>\n<p class=\"note\">Signed for "
                   "the clinic by its responsible person, who has reviewed all of this report, "
                   "the appendix included, and the records it is based on.</p>\n<dl class=\"who\">"
                   "<dt>Clinic</dt><dd>Sunset Scalp &amp; Skin</dd><dt>Licence</dt><dd>CA-BA-0042"
                   "</dd><dt>Address</dt><dd>1 Ocean Ave, Santa Monica</dd><dt>Period</dt><dd>"
                   "2026-11-01 to 2026-11-30 (local days in America/Los_Angeles)</dd></dl>\n"
                   "<div class=\"sign\">\n"
                   "<div class=\"sf\"><span class=\"sl\">Name</span><span class=\"sv\">Dr. Jane "
                   "Roe, MD</span></div>\n"
                   "<div class=\"sf\"><span class=\"sl\">Role</span><span class=\"sv\">Clinic "
                   "director</span></div>\n"
                   "<div class=\"sf\"><span class=\"sl\">Date</span><span class=\"sv\"></span>"
                   "</div>\n"
                   "<div class=\"sf sig\"><span class=\"sl\">Signature</span><span class=\"sv\">"
                   "</span></div>\n</div>\n</section>\n<footer>");
    /* The signature block is the last thing before the footer. */
    assert_true(strstr(html, "<section id=\"signature\">") > strstr(html, "id=\"appendix\""));
    free(html);
    with[12] = "--format";     /* without --signatory: lines to fill in */
    with[13] = "html";
    assert_int_equal(report_cmd(12, with), 0);
    html = slurp(out);
    contains(html, "<span class=\"sl\">Name</span><span class=\"sv\"></span></div>\n"
                   "<div class=\"sf\"><span class=\"sl\">Role</span><span class=\"sv\"></span>");
    free(html);
    remove_in(fx, "out.csv");
    assert_int_equal(report_cmd(14, bad), 1);
    assert_int_equal(access(out, F_OK), -1);

    assert_int_equal(report_signatory_check("Jane Roe", err, sizeof err), 0);
    assert_int_equal(report_signatory_check("", err, sizeof err), -1);
    assert_string_equal(err, "--signatory is empty; give \"Name, Role\" such as \"Jane Roe, "
                             "Clinic manager\" (or leave the option out to sign by hand)");
    assert_int_equal(report_signatory_check(" , Clinic manager", err, sizeof err), -1);
    assert_string_equal(err, "--signatory has no name; give \"Name, Role\" such as \"Jane Roe, "
                             "Clinic manager\" (or leave the option out to sign by hand)");
    assert_int_equal(report_signatory_check("Jane\nRoe", err, sizeof err), -1);
    assert_string_equal(err, "--signatory has a control character or is not UTF-8; give plain "
                             "text such as \"Jane Roe, Clinic manager\"");
    char long_name[260];
    memset(long_name, 'a', 201);
    long_name[201] = '\0';
    assert_int_equal(report_signatory_check(long_name, err, sizeof err), -1);
    assert_string_equal(err, "--signatory is 201 bytes; the limit is 200: give \"Name, Role\"");

    /* The PDF: on its last page, with and without a name. */
    if (report_data_load(fx->db, "Pacific", "2026-11-01", "2026-11-30", GEN_AT, &d, err,
                         sizeof err) != 0)
        fail_msg("report_data_load: %s", err);
    doc = render_pdf(&d);
    last = &doc.page[doc.n - 1];
    assert_true(pdf_find(last, 0, "Signature") >= 0);
    assert_true(pdf_find(last, 0, "Sunset Scalp & Skin") >= 0);
    assert_true(pdf_find(last, 0, "CA-BA-0042") >= 0);
    assert_true(pdf_find(last, 0, "1 Ocean Ave, Santa Monica") >= 0);
    assert_true(pdf_find(last, 0, "2026-11-01 to 2026-11-30 (local days in America/Los_Angeles)")
                >= 0);
    assert_true(pdf_find(last, 0, "Name") >= 0 && pdf_find(last, 0, "Role") >= 0 &&
                pdf_find(last, 0, "Date") >= 0);
    assert_true(pdf_find(last, (size_t)pdf_find(last, 0, "Name") + 1, "Role") ==
                pdf_find(last, 0, "Name") + 1);   /* no name drawn between them */
    pdf_free(&doc);
    assert_int_equal(report_data_set_signatory(&d, "Dr. Jane Roe, MD, Clinic director", err,
                                               sizeof err), 0);
    doc = render_pdf(&d);
    last = &doc.page[doc.n - 1];
    assert_true(pdf_find(last, 0, "Dr. Jane Roe, MD") >= 0);
    assert_true(pdf_find(last, 0, "Clinic director") >= 0);
    pdf_free(&doc);
    report_data_free(&d);
}

/* ---- hostile text ---- */

/* Text from the clinic's registration, the records and the alerts that
 * reaches HTML is escaped; in the PDF it is mapped to the font's encoding
 * (a character it lacks is '?'), and the file stays well formed. */
static void test_hostile_text_escaped_and_mapped(void **state)
{
    fixture *fx = *state;
    report_data d;
    char err[512] = "", *html;
    pdf_doc doc;

    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    register_clinic(fx->db, "Hostile", "Clínica <b>\"Ωmega\"</b> 東京 (Paris)",
                    "America/Los_Angeles", "1 <script>alert(1)</script> St", "L'1 & \\ )(");
    add_device(fx->db, "dev-x1", "Hostile", NULL);
    add_record(fx->db, "dev-x1", 1, "2026-11-02T10:01:00.000Z", "cartridge.insert",
               "\"cartridge_uid\":\"<img src=x>\",\"config\":\"3RL\",\"expiry\":\"2027-01-01\","
               "\"lot\":\"Ω-\\\"1\\\"\",\"needles\":3,\"session_id\":\"s-1\",\"sku\":\"0603RL\"");
    add_alert(fx->db, "R2", "critical", "dev-x1", "Hostile", "expired:<x>",
              "{\"cartridge_uid\":\"<img src=x>\",\"session_id\":\"s-1\",\"device\":\"dev-x1\","
              "\"seq\":1,\"ts\":\"2026-11-02T10:01:00.000Z\",\"expiry\":\"2026-10-01\",\"lot\":"
              "\"Ω-\\\"1\\\"\"}",
              "2026-11-02T10:01:01.000Z", "2026-11-02T11:00:00.000Z", "<i>nurse</i> 山田", NULL);
    assert_int_equal(sqldb_commit(fx->db), 0);
    if (report_data_load(fx->db, "Hostile", "2026-11-01", "2026-11-30", GEN_AT, &d, err,
                         sizeof err) != 0)
        fail_msg("report_data_load: %s", err);
    assert_int_equal(report_data_set_signatory(&d, "<Ann> \"O'Neil\", Owner & CEO", err,
                                               sizeof err), 0);
    html = render(report_html_write, &d);
    assert_null(strstr(html, "<b>"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<i>"));
    assert_null(strstr(html, "<Ann>"));
    contains(html, "<h1>Compliance report: Clínica &lt;b&gt;&quot;Ωmega&quot;&lt;/b&gt; 東京 "
                   "(Paris)</h1>");
    contains(html, "<dt>Address</dt><dd>1 &lt;script&gt;alert(1)&lt;/script&gt; St</dd>");
    contains(html, "<div class=\"evl\">Cartridge &lt;img src=x&gt;, lot Ω-&quot;1&quot;, expiry "
                   "2026-10-01, inserted 2026-11-02 02:01 PST on dev-x1, session s-1</div>");
    contains(html, "<div class=\"rec\">dev-x1 #1, 2026-11-02 02:01 PST: Cartridge &lt;img "
                   "src=x&gt; inserted, SKU 0603RL, 3 needles, configuration 3RL, lot "
                   "Ω-&quot;1&quot;, expiry 2027-01-01, session s-1</div>");
    contains(html, "&lt;i&gt;nurse&lt;/i&gt; 山田");
    contains(html, "<span class=\"sv\">&lt;Ann&gt; &quot;O&#39;Neil&quot;</span>");
    contains(html, "<span class=\"sv\">Owner &amp; CEO</span>");
    free(html);

    doc = render_pdf(&d);
    assert_pdf_well_formed(&doc);
    assert_true(pdf_count(&doc, "Compliance report: Cl\xednica <b>\"?mega\"</b> ?? (Paris)") == 1);
    assert_true(pdf_count(&doc, "1 <script>alert(1)</script> St") == 1);
    assert_true(pdf_count(&doc, "L'1 & \\ )(") == 1);
    assert_true(pdf_count(&doc, "<Ann> \"O'Neil\"") == 1);
    assert_true(pdf_count(&doc, "Owner & CEO") == 1);
    /* No byte of a character the font lacks reaches the file. */
    assert_null(find_bytes(doc.raw, doc.len, "\xce\xa9", 2));       /* Ω */
    assert_null(find_bytes(doc.raw, doc.len, "\xe6\x9d\xb1", 3));   /* 東 */
    pdf_free(&doc);
    report_data_free(&d);
}

static void test_pdf_ansi_mapping(void **state)
{
    char out[64];

    (void)state;
    assert_string_equal(report_pdf_ansi("Caf\xc3\xa9 \xe2\x80\x93 \xe2\x80\x9cok\xe2\x80\x9d "
                                        "\xe2\x82\xac" "5\xe2\x80\xa6", out),
                        "Caf\xe9 \x96 \x93ok\x94 \x80" "5\x85");
    assert_string_equal(report_pdf_ansi("\xce\xa9\xe6\x9d\xb1\xf0\x9f\x98\x80", out), "???");
    /* Bytes that are not UTF-8, controls, C1: '?' each; tab a space. */
    assert_string_equal(report_pdf_ansi("a\xff" "b\xc3" "c\x01\x7f\xc2\x9b\td\ne", out),
                        "a?b?c??? d\ne");
}

/* ---- one line per autoclave cycle; sterilizers as equipment ---- */

/* The report of clinic from..to, loaded (fails the test on error). */
static void load(fixture *fx, const char *clinic, const char *from, const char *to,
                 report_data *d)
{
    char err[512] = "";

    if (report_data_load(fx->db, clinic, from, to, GEN_AT, d, err, sizeof err) != 0)
        fail_msg("report_data_load: %s", err);
}

/* smpctl export of clinic from..to into fx->dir/<out> with a new export
 * key; returns the bundle's directory (static). */
static const char *export_clinic(fixture *fx, const char *clinic, const char *from,
                                 const char *to, const char *name)
{
    static char out[400];
    char pki_dir[400], key[450], cmd[900];
    char *argv_init[] = {"init", "--dir", pki_dir};
    char *argv_key[] = {"issue-export", "--dir", pki_dir};
    char *argv[] = {"--db", fx->path, "--clinic", (char *)clinic, "--from", (char *)from, "--to",
                    (char *)to, "--out", out, "--key", key};

    snprintf(pki_dir, sizeof pki_dir, "%s/pki-%s", fx->dir, name);
    snprintf(key, sizeof key, "%s/export.key", pki_dir);
    snprintf(out, sizeof out, "%s/%s", fx->dir, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", out, pki_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(pki_cmd(3, argv_init), 0);
    assert_int_equal(pki_cmd(3, argv_key), 0);
    assert_int_equal(export_cmd(12, argv), 0);
    return out;
}

static void remove_bundle(fixture *fx, const char *name)
{
    char cmd[900];

    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s' '%s/pki-%s'", fx->dir, name, fx->dir, name);
    assert_int_equal(system(cmd), 0);
}

/* The lines of text (CRLF or LF ends). */
static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    return n;
}

static void expect_cycles_csv(fixture *fx, const char *clinic, const char *day, const char *rows)
{
    char expected[2048];
    char *csv = report_csv_for(fx->db, clinic, day, day);

    snprintf(expected, sizeof expected, "%s%s", csv_header, rows);
    assert_string_equal(csv, expected);
    free(csv);
}

/* The export's sterilizer log: header and exactly these rows. */
static void expect_sterilizer_log(fixture *fx, const char *clinic, const char *day,
                                  size_t rows, const char *const *tails)
{
    const char *dir = export_clinic(fx, clinic, day, day, "ster");
    char *log = read_text(dir, "sterilizer_log.csv");

    assert_int_equal(count_lines(log), rows + 1);
    for (size_t i = 0; i < rows; i++)
        contains(log, tails[i]);
    free(log);
    remove_bundle(fx, "ster");
}

/* A test logged by two devices (the autoclave's agent and a machine) is one
 * test in the counts and the tests table; a second indicator of the same
 * lot and cycle, read at another time, is another. */
static void test_one_line_per_test(void **state)
{
    fixture *fx = *state;
    report_data d;

    add_device(fx->db, "m01", "Twice", NULL);
    add_device(fx->db, "m02", "Twice", NULL);
    add_record(fx->db, "m01", 1, "2026-11-02T09:00:00.000Z", "sterilization.test",
               E_TEST("spore", 101, "BI-1", "positive", "2026-11-02T09:00:00.000Z"));
    add_record(fx->db, "m02", 1, "2026-11-02T09:00:30.000Z", "sterilization.test",
               E_TEST("spore", 101, "BI-1", "positive", "2026-11-02T09:00:00.000Z"));
    add_record(fx->db, "m01", 2, "2026-11-02T09:05:00.000Z", "sterilization.test",
               E_TEST("bowie_dick", 101, "BD-1", "negative", "2026-11-02T09:05:00.000Z"));
    add_record(fx->db, "m02", 2, "2026-11-02T09:05:10.000Z", "sterilization.test",
               E_TEST("bowie_dick", 101, "BD-1", "negative", "2026-11-02T09:05:00.000Z"));
    load(fx, "Twice", "2026-11-02", "2026-11-02", &d);
    assert_int_equal(d.ntests, 2);
    assert_int_equal(d.total.count[RC_SPORE_TESTS], 1);
    assert_int_equal(d.total.count[RC_SPORE_POSITIVE], 1);
    assert_int_equal(d.bowie_dick_tests, 1);
    report_data_free(&d);
    add_record(fx->db, "m02", 3, "2026-11-02T11:00:00.000Z", "sterilization.test",
               E_TEST("spore", 101, "BI-1", "negative", "2026-11-02T11:00:00.000Z"));
    load(fx, "Twice", "2026-11-02", "2026-11-02", &d);
    assert_int_equal(d.ntests, 3);
    assert_int_equal(d.total.count[RC_SPORE_TESTS], 2);
    assert_int_equal(d.total.count[RC_SPORE_POSITIVE], 1);
    report_data_free(&d);
}

/* A cycle (sterilizer_id, cycle_no) of a clinic is one fact however many
 * devices logged it: three machines logging ac-e #101 make one cycle in
 * every count, chart, table and the export's sterilizer log, listed as the
 * earliest record with the devices that logged it; a second cycle makes
 * two; a copy with other content adds nothing; rule_cycles, when it has a
 * row, names the record that is the cycle and so its day. */
static void test_one_line_per_cycle(void **state)
{
    fixture *fx = *state;
    report_data d;
    char *html, *json;
    cJSON *j;

    add_device(fx->db, "m01", "Multi", NULL);
    add_device(fx->db, "m02", "Multi", NULL);
    add_device(fx->db, "m03", "Multi", NULL);
    add_record(fx->db, "m03", 1, "2026-11-02T09:00:02.000Z", "sterilization.cycle",
               E_CYCLE(101, "M-L1", "pass", "134.6", ""));
    add_record(fx->db, "m02", 1, "2026-11-02T09:00:05.000Z", "sterilization.cycle",
               E_CYCLE(101, "M-L1", "pass", "134.6", ""));
    add_record(fx->db, "m01", 1, "2026-11-02T09:00:10.000Z", "sterilization.cycle",
               E_CYCLE(101, "M-L1", "pass", "134.6", ""));

    /* Three machines, one cycle. */
    expect_cycles_csv(fx, "Multi", "2026-11-02",
                      "m01,0,0,0,0,0,0,0\r\nm02,0,0,0,0,0,0,0\r\nm03,0,0,0,1,0,0,0\r\n"
                      "TOTAL,0,0,0,1,0,0,0\r\n");
    load(fx, "Multi", "2026-11-02", "2026-11-02", &d);
    html = render(report_html_write, &d);
    contains(html, "Every sterilization cycle recorded in the period (1)");
    contains(html, "ac-e #101<small>logged by m01, m02, m03</small>");
    contains(html, "<title>2026-11-02: 1 passed, 0 failed or aborted</title>");
    json = render(report_json_write, &d);
    assert_non_null(j = cJSON_Parse(json));
    assert_int_equal(item(j, "summary.cycles_passed")->valueint, 1);
    assert_int_equal(item(j, "days.0.cycles_passed")->valueint, 1);
    assert_int_equal(cJSON_GetArraySize(item(j, "sterilizer_log")), 1);
    assert_string_equal(item(j, "sterilizer_log.0.device_id")->valuestring, "m03");
    assert_int_equal(cJSON_GetArraySize(item(j, "sterilizer_log.0.logged_by")), 3);
    assert_string_equal(item(j, "sterilizer_log.0.logged_by.0.device_id")->valuestring, "m03");
    assert_string_equal(item(j, "sterilizer_log.0.logged_by.1.device_id")->valuestring, "m02");
    assert_string_equal(item(j, "sterilizer_log.0.logged_by.2.device_id")->valuestring, "m01");
    assert_int_equal(item(j, "sterilizer_log.0.logged_by.2.seq")->valueint, 1);
    cJSON_Delete(j);
    free(json);
    free(html);
    report_data_free(&d);
    expect_sterilizer_log(fx, "Multi", "2026-11-02", 1, (const char *const[]){
        "\r\nMulti,m03,ac-e,101,2026-11-02,09:00:02,2026-11-02 09:00 UTC,M-L1,"});
    expect_sterilizer_log(fx, "Multi", "2026-11-02", 1, (const char *const[]){
        ",1,m03:1;m02:1;m01:1\r\n"});

    /* A second cycle, and a copy of it with other content (an R9
     * cycle-conflict, not a cycle): two cycles. */
    add_record(fx->db, "m01", 2, "2026-11-02T10:00:00.000Z", "sterilization.cycle",
               E_CYCLE(102, "M-L2", "pass", "134.6", ""));
    add_record(fx->db, "m02", 2, "2026-11-02T10:00:30.000Z", "sterilization.cycle",
               E_CYCLE(102, "M-LX", "pass", "134.6", ""));
    expect_cycles_csv(fx, "Multi", "2026-11-02",
                      "m01,0,0,0,1,0,0,0\r\nm02,0,0,0,0,0,0,0\r\nm03,0,0,0,1,0,0,0\r\n"
                      "TOTAL,0,0,0,2,0,0,0\r\n");
    load(fx, "Multi", "2026-11-02", "2026-11-02", &d);
    assert_int_equal(d.ncycles, 2);
    assert_string_equal(d.cycles[1].load_id, "M-L2");
    assert_string_equal(d.cycles[1].logged_by, "m01");
    assert_int_equal(d.days[0].cycles_passed, 2);
    report_data_free(&d);
    expect_sterilizer_log(fx, "Multi", "2026-11-02", 2, (const char *const[]){
        ",1,m03:1;m02:1;m01:1\r\n", ",M-L2,prevac_134,"});

    /* #103 logged at 23:50 on the 1st and again at 00:10 on the 2nd: the
     * 1st's cycle (the earliest record), once. */
    add_record(fx->db, "m01", 3, "2026-11-01T23:50:00.000Z", "sterilization.cycle",
               E_CYCLE(103, "M-L3", "pass", "134.6", ""));
    add_record(fx->db, "m02", 3, "2026-11-02T00:10:00.000Z", "sterilization.cycle",
               E_CYCLE(103, "M-L3", "pass", "134.6", ""));
    load(fx, "Multi", "2026-11-02", "2026-11-02", &d);
    assert_int_equal(d.ncycles, 2);
    report_data_free(&d);
    load(fx, "Multi", "2026-11-01", "2026-11-01", &d);
    assert_int_equal(d.ncycles, 1);
    assert_int_equal(d.cycles[0].cycle_no, 103);
    assert_string_equal(d.cycles[0].logged_by, "m01, m02");
    report_data_free(&d);

    /* The collector's rule_cycles names the record that is the cycle: m01's
     * of #101 (stored first, though timed last) and m02's of #103, which
     * moves #103 to the 2nd. */
    testdb_exec(fx->db, "INSERT INTO rule_cycles(clinic, sterilizer_id, cycle_no, device_id, seq,"
                        " ts, digest) VALUES ('Multi', 'ac-e', 101, 'm01', 1,"
                        " '2026-11-02T09:00:10.000Z', 'd'), ('Multi', 'ac-e', 103, 'm02', 3,"
                        " '2026-11-02T00:10:00.000Z', 'd')");
    expect_cycles_csv(fx, "Multi", "2026-11-02",
                      "m01,0,0,0,2,0,0,0\r\nm02,0,0,0,1,0,0,0\r\nm03,0,0,0,0,0,0,0\r\n"
                      "TOTAL,0,0,0,3,0,0,0\r\n");
    expect_cycles_csv(fx, "Multi", "2026-11-01",
                      "m01,0,0,0,0,0,0,0\r\nm02,0,0,0,0,0,0,0\r\nm03,0,0,0,0,0,0,0\r\n"
                      "TOTAL,0,0,0,0,0,0,0\r\n");
    load(fx, "Multi", "2026-11-02", "2026-11-02", &d);
    assert_int_equal(d.ncycles, 3);
    assert_int_equal(d.cycles[0].cycle_no, 103);
    assert_string_equal(d.cycles[0].device_id, "m02");
    assert_string_equal(d.cycles[0].logged_by, "m01, m02");
    assert_int_equal(d.cycles[1].cycle_no, 101);
    assert_string_equal(d.cycles[1].device_id, "m01");
    assert_string_equal(d.cycles[1].ts, "2026-11-02T09:00:10.000Z");
    assert_int_equal(d.cycles[1].ncopies, 3);
    assert_string_equal(d.copies[d.cycles[1].copies].device_id, "m01");
    report_data_free(&d);

    /* R4 judged a copy of #101 (m03's): the cycle is failed, once. */
    add_alert(fx->db, "R4", "cycle_failed", "m03", "Multi", "cycle:101",
              "{\"device\":\"m03\",\"seq\":1,\"ts\":\"2026-11-02T09:00:02.000Z\","
              "\"reasons\":[\"temperature\"]}", "2026-11-02T09:00:03.000Z", NULL, NULL, NULL);
    expect_cycles_csv(fx, "Multi", "2026-11-02",
                      "m01,0,0,0,1,1,0,0\r\nm02,0,0,0,1,0,0,0\r\nm03,0,0,0,0,0,0,0\r\n"
                      "TOTAL,0,0,0,2,1,0,0\r\n");
}

#define S_CYCLE(ster, no, result)                                                          \
    "\"ci_result\":\"pass\",\"cycle_no\":" #no ",\"dry_s\":1500,\"exposure_s\":245,"        \
    "\"load_id\":\"" ster "-L" #no "\",\"operator_id\":\"op-9\",\"pressure_max_kpa\":311.5," \
    "\"pressure_min_kpa\":301.2,\"program\":\"prevac_134\",\"result\":\"" result "\","       \
    "\"setpoint_c\":134.0,\"sterilizer_id\":\"" ster "\",\"temp_max_c\":135.9,"              \
    "\"temp_min_c\":134.6"

/* Clinic Equip: ac-north, an autoclave with its own logger agent (device
 * ac-north of kind sterilizer); ac-south, registered without one and
 * logged through machine m01; ac-x, named by a record but registered
 * nowhere. Alerts about ac-north and ac-south are filed under their ids;
 * one is filed under an id the clinic does not know. */
static void fill_equip(sqldb *db)
{
    add_device(db, "m01", "Equip", NULL);
    add_device(db, "ac-north", "Equip", NULL);
    testdb_exec(db, "UPDATE devices SET kind = 'sterilizer' WHERE device_id = 'ac-north';"
                    "INSERT INTO sterilizers(sterilizer_id, clinic, model, serial, device_id,"
                    " added_at) VALUES ('ac-south', 'Equip', 'Melag Vacuklav 23', 'SN-2', NULL,"
                    " '2026-10-02T00:00:00.000Z'), ('ac-north', 'Equip', 'Tuttnauer 3870EA',"
                    " 'SN-1', 'ac-north', '2026-10-01T00:00:00.000Z'), ('ac-other', 'Other',"
                    " 'Other', 'SN-9', NULL, '2026-10-01T00:00:00.000Z')");
    add_record(db, "ac-north", 1, "2026-11-02T08:00:00.000Z", "sterilization.cycle",
               S_CYCLE("ac-north", 1, "pass"));
    add_record(db, "m01", 1, "2026-11-02T09:00:00.000Z", "sterilization.cycle",
               S_CYCLE("ac-south", 1, "fail"));
    add_record(db, "m01", 2, "2026-11-02T09:30:00.000Z", "sterilization.test",
               "\"bi_lot\":\"BI-1\",\"cycle_no\":1,\"kind\":\"spore\",\"read_ts\":"
               "\"2026-11-03T09:30:00.000Z\",\"result\":\"negative\",\"sterilizer_id\":"
               "\"ac-south\"");
    add_record(db, "m01", 3, "2026-11-02T10:00:00.000Z", "sterilization.cycle",
               S_CYCLE("ac-x", 5, "pass"));
    add_alert(db, "R4", "cycle_failed", "ac-south", "Equip", "cycle:ac-south:1",
              "{\"sterilizer_id\":\"ac-south\",\"device\":\"m01\",\"seq\":1,"
              "\"ts\":\"2026-11-02T09:00:00.000Z\",\"reasons\":[\"temperature\"]}",
              "2026-11-02T09:00:01.000Z", NULL, NULL, NULL);
    add_alert(db, "R6", "warning", "ac-north", "Equip", "spore-overdue:ac-north",
              "{\"sterilizer_id\":\"ac-north\",\"last_negative\":\"2026-10-20\"}",
              "2026-11-02T12:00:00.000Z", NULL, NULL, NULL);
    add_alert(db, "R6", "warning", "ac-gone", "Equip", "spore-overdue:ac-gone",
              "{\"sterilizer_id\":\"ac-gone\"}", "2026-11-02T13:00:00.000Z", NULL, NULL, NULL);
}

/* The clinic's sterilizers in the report's header and its equipment
 * table, with how each is logged and the period's counts; alerts filed
 * under a sterilizer id show as that sterilizer. */
static void test_sterilizers_in_the_report(void **state)
{
    fixture *fx = *state;
    report_data d;
    char *html, *json;
    cJSON *j;

    fill_equip(fx->db);
    load(fx, "Equip", "2026-11-02", "2026-11-02", &d);
    assert_int_equal(d.nsterilizers, 3);
    const report_sterilizer *s = &d.sterilizers[0];
    assert_string_equal(s->sterilizer_id, "ac-north");
    assert_true(s->registered);
    assert_string_equal(s->model, "Tuttnauer 3870EA");
    assert_string_equal(s->serial, "SN-1");
    assert_string_equal(s->device_id, "ac-north");
    assert_int_equal(s->cycles_passed, 1);
    assert_int_equal(s->cycles_failed + s->spore_tests, 0);
    s = &d.sterilizers[1];
    assert_string_equal(s->sterilizer_id, "ac-south");
    assert_string_equal(s->device_id, "");
    assert_int_equal(s->cycles_passed, 0);
    assert_int_equal(s->cycles_failed, 1);
    assert_int_equal(s->spore_tests, 1);
    s = &d.sterilizers[2];
    assert_string_equal(s->sterilizer_id, "ac-x");
    assert_false(s->registered);
    assert_int_equal(s->cycles_passed, 1);
    assert_int_equal(d.nviolations, 3);
    assert_int_equal(d.violations[0].filed_under, REPORT_FILED_STERILIZER);
    assert_non_null(d.violations[0].cited[0].body);   /* m01 #1, cited by the evidence */
    assert_int_equal(d.violations[1].filed_under, REPORT_FILED_STERILIZER);
    assert_int_equal(d.violations[2].filed_under, REPORT_FILED_UNKNOWN);
    assert_true(d.cycles[1].failed && d.cycles[1].r4_failed);
    assert_int_equal(d.cycles[1].spore, 0);

    html = render(report_html_write, &d);
    contains(html, "<dt>Sterilizers</dt><dd>ac-north, ac-south, ac-x (not registered)</dd>");
    contains(html, "<tr><td>ac-north</td><td class=\"t\">Tuttnauer 3870EA</td><td class=\"t\">"
                   "SN-1</td><td class=\"t\">its own agent (device ac-north)</td><td class=\"d\">"
                   "2026-10-01<small>00:00 UTC</small></td><td>1</td><td>0</td><td>0</td></tr>");
    contains(html, "<tr><td>ac-south</td><td class=\"t\">Melag Vacuklav 23</td><td class=\"t\">"
                   "SN-2</td><td class=\"t\">the clinic&#39;s machines</td><td class=\"d\">"
                   "2026-10-02<small>00:00 UTC</small></td><td>0</td><td>1</td><td>1</td></tr>");
    contains(html, "<tr><td>ac-x</td><td class=\"t\"></td><td class=\"t\"></td><td class=\"t\">"
                   "unknown: not registered, named by the records</td><td class=\"d\"></td>"
                   "<td>1</td><td>0</td><td>0</td></tr>");
    contains(html, "<td class=\"t\">Sterilizer ac-south</td>");
    contains(html, "<td class=\"t\">Sterilizer ac-north</td>");
    contains(html, "<td class=\"t\">ac-gone (not a device or sterilizer of this clinic)</td>");
    contains(html, "<td>ac-north <span class=\"retired\">(sterilizer agent)</span></td>");
    free(html);

    json = render(report_json_write, &d);
    assert_non_null(j = cJSON_Parse(json));
    assert_int_equal(cJSON_GetArraySize(item(j, "sterilizers")), 3);
    assert_string_equal(item(j, "sterilizers.0.sterilizer_id")->valuestring, "ac-north");
    assert_string_equal(item(j, "sterilizers.0.model")->valuestring, "Tuttnauer 3870EA");
    assert_string_equal(item(j, "sterilizers.0.serial")->valuestring, "SN-1");
    assert_string_equal(item(j, "sterilizers.0.device_id")->valuestring, "ac-north");
    assert_string_equal(item(j, "sterilizers.0.logged_through")->valuestring, "own agent");
    assert_string_equal(item(j, "sterilizers.0.added_at")->valuestring,
                        "2026-10-01T00:00:00.000Z");
    assert_true(cJSON_IsNull(item(j, "sterilizers.0.retired_at")));
    assert_true(cJSON_IsNull(item(j, "sterilizers.1.device_id")));
    assert_string_equal(item(j, "sterilizers.1.logged_through")->valuestring, "clinic machines");
    assert_int_equal(item(j, "sterilizers.1.cycles_failed")->valueint, 1);
    assert_int_equal(item(j, "sterilizers.1.spore_tests")->valueint, 1);
    assert_true(cJSON_IsFalse(item(j, "sterilizers.2.registered")));
    assert_string_equal(item(j, "sterilizers.2.logged_through")->valuestring, "unknown");
    assert_string_equal(item(j, "devices.0.device_id")->valuestring, "ac-north");
    assert_string_equal(item(j, "devices.0.kind")->valuestring, "sterilizer");
    assert_string_equal(item(j, "devices.1.kind")->valuestring, "machine");
    assert_string_equal(item(j, "violations.0.device_id")->valuestring, "ac-south");
    assert_string_equal(item(j, "violations.0.filed_under")->valuestring, "sterilizer");
    assert_string_equal(item(j, "violations.2.filed_under")->valuestring, "unknown");
    cJSON_Delete(j);
    free(json);

    pdf_doc doc = render_pdf(&d);
    assert_int_equal(pdf_count(&doc, "Sterilizer ac-south"), 1);
    assert_int_equal(pdf_count(&doc, "Sterilizer ac-north"), 1);
    assert_int_equal(pdf_count(&doc, "Sterilizers"), 1);
    assert_int_equal(pdf_count(&doc, "its own agent (device ac-north)"), 1);
    assert_int_equal(pdf_count(&doc, "Melag Vacuklav 23"), 1);
    pdf_free(&doc);
    report_data_free(&d);
}

/* The export names the clinic's sterilizers in README.txt and
 * manifest.json, and files alerts under them in violations.csv. */
static void test_sterilizers_in_the_export(void **state)
{
    fixture *fx = *state;
    const char *dir;
    char *readme, *text, *viol;
    cJSON *m;

    fill_equip(fx->db);
    dir = export_clinic(fx, "Equip", "2026-11-02", "2026-11-02", "equip");
    readme = read_text(dir, "README.txt");
    contains(readme, "Sterilizers:\n"
                     "  ac-north: model Tuttnauer 3870EA, serial SN-1, logged through its own "
                     "agent (device ac-north)\n"
                     "  ac-south: model Melag Vacuklav 23, serial SN-2, logged through the "
                     "clinic's machines\n"
                     "  ac-x: not registered (named by the period's records)\n\nFiles\n");
    text = read_text(dir, "manifest.json");
    assert_non_null(m = cJSON_Parse(text));
    assert_int_equal(cJSON_GetArraySize(item(m, "clinic_details.sterilizers")), 3);
    assert_string_equal(item(m, "clinic_details.sterilizers.0.sterilizer_id")->valuestring,
                        "ac-north");
    assert_true(cJSON_IsTrue(item(m, "clinic_details.sterilizers.0.registered")));
    assert_string_equal(item(m, "clinic_details.sterilizers.0.model")->valuestring,
                        "Tuttnauer 3870EA");
    assert_string_equal(item(m, "clinic_details.sterilizers.0.serial")->valuestring, "SN-1");
    assert_string_equal(item(m, "clinic_details.sterilizers.0.device_id")->valuestring,
                        "ac-north");
    assert_string_equal(item(m, "clinic_details.sterilizers.0.added_at")->valuestring,
                        "2026-10-01T00:00:00.000Z");
    assert_true(cJSON_IsNull(item(m, "clinic_details.sterilizers.0.retired_at")));
    assert_string_equal(item(m, "clinic_details.sterilizers.1.sterilizer_id")->valuestring,
                        "ac-south");
    assert_true(cJSON_IsNull(item(m, "clinic_details.sterilizers.1.device_id")));
    assert_true(cJSON_IsFalse(item(m, "clinic_details.sterilizers.2.registered")));
    assert_string_equal(item(m, "devices.0.device_id")->valuestring, "ac-north");
    viol = read_text(dir, "violations.csv");
    contains(viol, "alert_id,rule,rule_title,kind,severity,device_id,filed_under,cause,");
    contains(viol, ",violation,cycle_failed,ac-south,sterilizer,cycle:ac-south:1,");
    contains(viol, ",violation,warning,ac-north,sterilizer,spore-overdue:ac-north,");
    contains(viol, ",violation,warning,ac-gone,unknown,spore-overdue:ac-gone,");
    cJSON_Delete(m);
    free(viol);
    free(text);
    free(readme);
    remove_bundle(fx, "equip");
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
        cmocka_unit_test(test_evidence_fields_each_rule),
        cmocka_unit_test(test_cited_records_as_fields),
        cmocka_unit_test_setup_teardown(test_html_evidence_fields_and_appendix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pdf_appendix_holds_the_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pdf_has_the_charts, setup, teardown),
        cmocka_unit_test(test_wrap_breaks_between_words),
        cmocka_unit_test_setup_teardown(test_pdf_wraps_between_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pdf_tables_continue_with_their_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_signature_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_text_escaped_and_mapped, setup, teardown),
        cmocka_unit_test(test_pdf_ansi_mapping),
        cmocka_unit_test_setup_teardown(test_one_line_per_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_line_per_test, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sterilizers_in_the_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sterilizers_in_the_export, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
