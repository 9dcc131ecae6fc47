/* test_csv: the one CSV cell writer (dashboard-export/csvcell.c) and every
 * CSV file smpctl writes through it.
 *
 * - csv_text: RFC 4180 quoting and OWASP formula neutralisation, exact
 *   bytes per input;
 * - numbers we format (csv_int, csv_dec1) stay numbers, negatives too;
 * - every writer (report.csv, sterilizer_log.csv, tests.csv,
 *   violations.csv, procedure_log.csv, cartridge_log.csv) fed text that
 *   starts with = + - @ tab CR: no cell of any file starts with one of
 *   them. procedure_log.csv is read from a store (SQLite, or PostgreSQL
 *   when SMP_TEST_PG is set: testdb.h) holding a record stored before
 *   identifiers had a character set (client_ref =HYPERLINK("http://x"),
 *   the example). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvcell.h"
#include "export_logs.h"
#include "report_csv.h"
#include "testdb.h"

typedef void (*writer)(FILE *out, const void *arg);

/* What w writes, as a malloc'd string. */
static char *capture(writer w, const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    w(f, arg);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void write_text(FILE *out, const void *arg)
{
    csv_text(out, arg);
}

static void test_text_cells(void **state)
{
    static const struct { const char *in, *out; } cases[] = {
        /* RFC 4180 */
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\r", "\"cr\r\""},
        /* formula starts: a single quote first, and quoted */
        {"=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""},
        {"=1+1", "\"'=1+1\""},
        {"+1", "\"'+1\""},
        {"-2+3", "\"'-2+3\""},
        {"-", "\"'-\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"\t=1", "\"'\t=1\""},
        {"\r=1", "\"'\r=1\""},
        {"=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\""},
        {"=a,b", "\"'=a,b\""},
        /* only the first character counts */
        {"a=1", "a=1"},
        {"1-2", "1-2"},
        {" =1", " =1"},
        {"'=1", "'=1"},
        {"\xc3\xa9=1", "\xc3\xa9=1"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = capture(write_text, cases[i].in);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("csv_text('%s') = '%s', want '%s'", cases[i].in, got, cases[i].out);
        free(got);
    }
    /* NULL is an empty cell */
    char *got = capture(write_text, NULL);
    assert_string_equal(got, "");
    free(got);
    /* report_csv_field is the same writer */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_csv_field(f, "=1+1");
    fclose(f);
    assert_string_equal(buf, "\"'=1+1\"");
    free(buf);
}

static void write_numbers(FILE *out, const void *arg)
{
    (void)arg;
    csv_int(out, -12);
    csv_sep(out);
    csv_int(out, INT64_MIN);
    csv_sep(out);
    csv_dec1(out, -5);
    csv_sep(out);
    csv_dec1(out, -1345);
    csv_sep(out);
    csv_dec1(out, 1345);
    csv_end_row(out);
}

/* A numeric column written by us is not user text: negative numbers stay
 * numbers (a spreadsheet must sum temperatures), never '-12. */
static void test_numbers_are_not_neutralised(void **state)
{
    (void)state;
    char *got = capture(write_numbers, NULL);
    assert_string_equal(got, "-12,-9223372036854775808,-0.5,-134.5,134.5\r\n");
    free(got);
}

/* True when some cell of the CSV text starts with a formula character
 * (outside quotes, or as the first character inside them). */
static bool has_formula_cell(const char *csv)
{
    bool in_quotes = false, cell_start = true;
    for (const char *p = csv; *p; p++) {
        if (cell_start) {
            const char *c = *p == '"' ? p + 1 : p;
            /* an empty last cell is followed by the row's CRLF */
            bool row_end = c == p && c[0] == '\r' && c[1] == '\n';
            if (*c == '=' || *c == '+' || *c == '@' || *c == '\t' || (*c == '\r' && !row_end) ||
                (*c == '-' && !(c[1] >= '0' && c[1] <= '9')))
                return true;
            cell_start = false;
        }
        if (*p == '"')
            in_quotes = !in_quotes;
        else if (!in_quotes && (*p == ',' || *p == '\n'))
            cell_start = true;
    }
    return false;
}

#define EVIL "=HYPERLINK(\"http://x\")"

static void write_report(FILE *out, const void *arg) { assert_int_equal(report_csv_write(out, arg), 0); }
static void write_ster(FILE *out, const void *arg) { assert_int_equal(export_sterilizer_csv(out, arg), 0); }
static void write_tests(FILE *out, const void *arg) { assert_int_equal(export_tests_csv(out, arg), 0); }
static void write_viol(FILE *out, const void *arg) { assert_int_equal(export_violations_csv(out, arg), 0); }

/* Every writer that takes a report_data, fed formula text in every text
 * field (as a store written before the identifier rule could hold). */
static void test_report_data_writers(void **state)
{
    report_row row = {.device_id = "@dev"};
    report_test t = {.device_id = "+d", .ts = "2026-03-01T09:00:00.000Z", .sterilizer_id = "=s",
                     .kind = "-k", .bi_lot = "@l", .result = "\t=r", .read_ts = "\r=t", .seq = 3,
                     .cycle_no = 1};
    report_cycle c = {.device_id = EVIL, .ts = "2026-03-01T08:00:00.000Z", .sterilizer_id = "+s",
                      .load_id = "-l", .program = "@p", .operator_id = "=op", .ci_result = "=c",
                      .result = "=r", .alarm_code = "-1+1", .seq = 2, .cycle_no = 1,
                      .temp_min_dc = -500, .bowie_dick = 0, .spore = -1, .ncopies = 1,
                      .logged_by = "=dev"};
    report_copy copy = {.device_id = "=dev", .seq = 2};
    report_violation v = {.id = 1, .rule = "=R1", .severity = "+s", .device_id = "-d",
                          .cause = "@c", .message = EVIL, .evidence = "=e", .raised_at = "=t",
                          .acked_at = "", .acked_by = "=HYPERLINK(\"x\")", .cleared_at = "",
                          .ncited = 1, .cited = {{.device_id = "=d", .seq = 4, .body = "=b"}}};
    report_data d = {.clinic = "=clinic", .rows = &row, .nrows = 1, .total = {.device_id = "TOTAL"},
                     .cycles = &c, .ncycles = 1, .copies = &copy, .ncopies = 1, .tests = &t,
                     .ntests = 1, .violations = &v, .nviolations = 1, .zone = tzlocal_utc()};
    static const writer writers[] = {write_report, write_ster, write_tests, write_viol};
    (void)state;

    for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++) {
        char *csv = capture(writers[i], &d);
        if (has_formula_cell(csv))
            fail_msg("writer %zu wrote a formula cell:\n%s", i, csv);
        free(csv);
    }
    char *ster = capture(write_ster, &d);
    assert_non_null(strstr(ster, "\"'=clinic\",\"'=HYPERLINK(\"\"http://x\"\")\",\"'+s\",1,"));
    assert_non_null(strstr(ster, ",-50.0,"));        /* a negative temperature stays a number */
    assert_non_null(strstr(ster, ",\"'-1+1\","));
    free(ster);
    char *viol = capture(write_viol, &d);
    assert_non_null(strstr(viol, "\r\n1,\"'=R1\","));
    assert_non_null(strstr(viol, ",\"'=HYPERLINK(\"\"x\"\")\","));
    free(viol);
}

/* procedure_log.csv and cartridge_log.csv, from the store. */
static void test_procedure_logs_from_store(void **state)
{
    char path[TESTDB_TARGET_MAX], err[256];
    sqldb *db;
    report_data d = {.clinic = "North", .from = "2026-03-01", .to = "2026-03-01",
                     .from_ts = "2026-03-01T00:00:00.000Z", .until_ts = "2026-03-02T00:00:00.000Z",
                     .zone = tzlocal_utc()};
    char *procs = NULL, *carts = NULL;
    size_t plen = 0, clen = 0;
    (void)state;

    testdb_new(path, sizeof path);
    db = testdb_open(path);
    testdb_exec(db,
        "INSERT INTO devices(device_id, clinic, added_at) VALUES ('dev-1', 'North', 't');"
        "INSERT INTO records(device_id, seq, ts, received_at, type, prev, hash, body)"
        " VALUES ('dev-1', 1, '2026-03-01T09:00:00.000Z', 't', 'session.start',"
        " 'p', 'h', '{\"client_ref\":\"=HYPERLINK(\\\"http://x\\\")\",\"operator_id\":\"+op\","
        "\"session_id\":\"-S1\",\"treatment_no\":1}');"
        "INSERT INTO records(device_id, seq, ts, received_at, type, prev, hash, body)"
        " VALUES ('dev-1', 2, '2026-03-01T09:00:01.000Z', 't', 'cartridge.insert',"
        " 'p', 'h', '{\"cartridge_uid\":\"@C1\",\"config\":\"=3RL\",\"expiry\":\"2027-01-01\","
        "\"lot\":\"-L\",\"needles\":3,\"session_id\":\"-S1\",\"sku\":\"+1\"}');");
    FILE *p = open_memstream(&procs, &plen), *c = open_memstream(&carts, &clen);
    assert_int_equal(export_procedures(db, &d, p, c, err, sizeof err), 0);
    fclose(p);
    fclose(c);
    assert_string_equal(procs,
        "session_id,device_id,start_ts,start_local,end_ts,end_local,operator_id,client_ref,"
        "treatment_no,run_s,strokes,cartridges,cartridge_details,grips,start_seq\r\n"
        "\"'-S1\",dev-1,2026-03-01T09:00:00.000Z,2026-03-01 09:00 UTC,,,\"'+op\",\"'=HYPERLINK(\"\"http://x\"\")\",1,0,0,1,"
        "\"'@C1 +1 lot -L exp 2027-01-01\",,1\r\n");
    assert_false(has_formula_cell(procs));
    if (has_formula_cell(carts))
        fail_msg("formula in:\n%s", carts);
    assert_non_null(strstr(carts, ",dev-1,\"'-S1\",\"'@C1\",\"'+1\",3,\"'=3RL\",\"'-L\",2027-01-01,"));
    free(procs);
    free(carts);
    sqldb_close(db);
    testdb_drop(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_cells),
        cmocka_unit_test(test_numbers_are_not_neutralised),
        cmocka_unit_test(test_report_data_writers),
        cmocka_unit_test(test_procedure_logs_from_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
