/* report_data: the numbers and logs of a clinic's compliance report,
 * gathered from the store (common/db.h) into plain structs. Renderers
 * (report_csv, report_html, report_json, report_pdf) and the audit export
 * only format a report_data; they never touch the database, so every
 * format shows the same numbers.
 *
 * The period is by device time (records.ts) for records, and by alert
 * time (alerts.raised_at) or the time of a cited record for violations;
 * from..to are whole days of the clinic's local calendar (its registered
 * timezone, smpctl clinic add; UTC for a clinic not registered), both
 * included, and so is every day of the day series. Stored times stay UTC
 * (ts, raised_at, ...); report_local_text / report_local_iso give them in
 * the clinic's zone for people. */
#ifndef SMP_REPORT_DATA_H
#define SMP_REPORT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "sqldb.h"
#include "strpool.h"
#include "tzlocal.h"

#define REPORT_DATE_LEN 10  /* YYYY-MM-DD */
#define REPORT_TS_LEN   24  /* YYYY-MM-DDTHH:MM:SS.mmmZ */
#define REPORT_CITED_MAX 16 /* records shown per violation; the evidence lists any more */
#define REPORT_LOCAL_LEN TZLOCAL_TEXT_LEN  /* "2026-03-02 16:23 PST" */
#define REPORT_ISO_LEN   TZLOCAL_ISO_LEN   /* "2026-03-02T16:23:00-08:00" */

/* Per-device counters, in column order of every rendering. */
typedef enum report_col {
    RC_SESSIONS,        /* session.start records */
    RC_CARTRIDGES,      /* distinct cartridge_uid of cartridge.insert */
    RC_STROKES,         /* sum of strokes of session.end */
    RC_CYCLES_PASSED,   /* sterilization.cycle neither R4 nor the sterilizer failed */
    RC_CYCLES_FAILED,   /* failed by rule R4, or result fail / aborted */
    RC_SPORE_TESTS,     /* sterilization.test with kind spore */
    RC_SPORE_POSITIVE,  /* ... of those, result positive */
    REPORT_NCOLS
} report_col;

typedef struct report_row {
    char device_id[IDS_DEVICE_ID_MAX + 1];  /* "TOTAL" in report_data.total */
    bool retired;                           /* retired now (may have reported in the period) */
    /* devices.kind 'sterilizer': an autoclave's own logger agent, not a
     * tattoo machine. */
    bool sterilizer;
    int64_t count[REPORT_NCOLS];
} report_row;

/* One local day of the period (every day is there, also days with
 * nothing): records from start_ts (the UTC instant of its local midnight)
 * to the next day's. */
typedef struct report_day {
    char date[REPORT_DATE_LEN + 1];
    char start_ts[REPORT_TS_LEN + 1];
    int64_t sessions, strokes, cycles_passed, cycles_failed;
} report_day;

/* A sterilization.test record. Strings point into report_data's arena. */
typedef struct report_test {
    const char *device_id, *ts, *sterilizer_id, *kind, *bi_lot, *result, *read_ts;
    int64_t seq, cycle_no;
} report_test;

/* A record that logged a cycle: its device and seq. */
typedef struct report_copy {
    const char *device_id;
    int64_t seq;
} report_copy;

/* A sterilization cycle, one line of the sterilizer log: the clinic's
 * cycle (sterilizer_id, cycle_no) once, however many devices logged it
 * (report_cycles.h says which record is the cycle). device_id, seq and
 * ts are that record's. *_dc are tenths of a degree C, *_dkpa tenths of a
 * kPa (as the schema holds them). alarm_code is "" when the record has
 * none. bowie_dick / spore index report_data.tests: the test of that kind
 * run in this cycle (same sterilizer and cycle number, logged by any
 * device; latest by ts), or -1. */
typedef struct report_cycle {
    const char *device_id, *ts, *sterilizer_id, *load_id, *program, *operator_id, *ci_result,
        *result, *alarm_code;
    int64_t seq, cycle_no, exposure_s, dry_s;
    int64_t setpoint_dc, temp_min_dc, temp_max_dc, pressure_min_dkpa, pressure_max_dkpa;
    long bowie_dick, spore;
    /* Every record of the clinic that logged this cycle with the same
     * content, this one first: report_data.copies[copies, copies +
     * ncopies). A copy with other content is no part of it (the
     * collector's R9 cycle-conflict alert shows that one). logged_by names
     * their devices, each once, in byte order: "ac-north, m01". */
    size_t copies, ncopies;
    const char *logged_by;
    /* The collector's verdict (rule R4, cited by an R4 alert): failed even
     * when the sterilizer's own result says pass (below the program's
     * minimums, chemical indicator). r4_reasons: "temperature, exposure"
     * ("" when R4 did not fail it). failed = r4_failed or result not pass:
     * what every table and chart counts. */
    bool r4_failed, failed;
    const char *r4_reasons;
} report_cycle;

typedef enum report_filed { REPORT_FILED_DEVICE, REPORT_FILED_STERILIZER, REPORT_FILED_UNKNOWN }
    report_filed;

/* A record a violation's evidence cites: any object in the evidence with a
 * numeric "seq" (and "device", else the alert's device). ts, type and body
 * are NULL when the store does not hold that record. */
typedef struct report_cited {
    const char *device_id;
    int64_t seq;
    const char *ts, *type, *body;
} report_cited;

/* An alert of the clinic in the period. Optional texts are "". evidence
 * is the stored JSON text. cited[0..ncited) are in evidence order, at
 * most REPORT_CITED_MAX; nevidence counts every record the evidence
 * names. */
typedef struct report_violation {
    int64_t id;
    const char *rule, *severity, *device_id, *cause, *message, *evidence, *raised_at, *acked_at,
        *acked_by, *cleared_at;
    /* "" or "withdrawn": disproved by later evidence, not a violation. */
    const char *state;
    /* Maintenance notices (R3 wear, R8 silence, R11 service) are listed
     * apart from violations and not counted as violations. */
    bool notice;
    /* What device_id names: a device of the clinic, a sterilizer of the
     * clinic (alerts about an autoclave are filed under its id, whether
     * or not it has an agent of its own: report_sterilizers.h), or
     * neither. */
    report_filed filed_under;
    report_cited cited[REPORT_CITED_MAX];
    size_t ncited, nevidence;
} report_violation;

/* A sterilizer of the clinic: registered (smpctl sterilizer add), or only
 * named by the period's cycles or tests (registered false: model, serial,
 * device_id, added_at and retired_at ""). device_id is its own logger
 * agent, "" when the clinic logs it through its machines. The counts are
 * the period's: its cycles (each once) passed and failed, its spore
 * tests. */
typedef struct report_sterilizer {
    const char *sterilizer_id, *model, *serial, *device_id, *added_at, *retired_at;
    bool registered;
    int64_t cycles_passed, cycles_failed, spore_tests;
} report_sterilizer;

/* Violations of one rule, for the summary ("R1", count). */
typedef struct report_rule_count {
    const char *rule;
    int64_t count;
    int64_t open;          /* of those, not cleared */
} report_rule_count;


typedef struct report_data {
    char *clinic;                           /* owned: the clinic id devices name */
    /* The clinic as registered (smpctl clinic add; strings in the arena).
     * Not registered: name is the id, address and licence "", zone UTC. */
    bool clinic_registered;
    const char *clinic_name, *clinic_address, *clinic_licence;
    const tzlocal_zone *zone;               /* its calendar; tzlocal's, never freed */
    char from[REPORT_DATE_LEN + 1];         /* first day, inclusive (local) */
    char to[REPORT_DATE_LEN + 1];           /* last day, inclusive (local) */
    /* The period as UTC instants: from_ts is local midnight starting
     * from, until_ts the one after to (exclusive). */
    char from_ts[REPORT_TS_LEN + 1];
    char until_ts[REPORT_TS_LEN + 1];
    char generated_at[REPORT_TS_LEN + 1];
    report_row *rows;                       /* owned; sorted by device_id */
    size_t nrows;
    size_t nretired;
    /* Column sums of rows. cartridges is the sum of per-device distinct
     * counts, so the TOTAL row always adds up. */
    report_row total;

    report_day *days;                       /* owned; from..to in order */
    size_t ndays;
    report_cycle *cycles;                   /* owned; by ts, device, seq */
    size_t ncycles;
    report_copy *copies;                    /* owned; report_cycle.copies index it */
    size_t ncopies;
    report_sterilizer *sterilizers;         /* owned; by sterilizer_id */
    size_t nsterilizers;
    report_test *tests;                     /* owned; by ts, device, seq */
    size_t ntests;
    int64_t bowie_dick_tests, bowie_dick_failed; /* failed: result not negative */
    report_violation *violations;           /* owned; by raised_at, id */
    size_t nviolations;
    report_rule_count *rules;               /* owned; by rule number */
    size_t nrules;
    /* Of the violations, those not cleared when the report was made
     * (acknowledged ones included): the sum of rules[].open. */
    int64_t open_alerts;
    /* violations[] lists every alert of the period; these count them:
     * violations (not a notice, not withdrawn: rules[] counts these),
     * maintenance notices and withdrawn alerts. */
    int64_t nviolations_counted, nnotices, nwithdrawn;
    /* No session, cartridge, cycle or test was logged in the period. */
    bool no_records;
    /* Who signs the report for the clinic (report_data_set_signatory,
     * from --signatory "Name, Role"), in the arena; NULL when nobody was
     * named: the signature block then has lines to fill in by hand. */
    const char *signatory_name, *signatory_role;
    strpool *arena;                         /* owned: every const char * above */
} report_data;

/* Machine name ("cycles_passed", for CSV / JSON keys) and human title
 * ("Cycles passed", for HTML) of a column. */
const char *report_col_name(report_col col);
const char *report_col_title(report_col col);

/* What a rule checks, for people ("Cartridge used in more than one
 * session"); "" for a rule id this version does not know. */
const char *report_rule_title(const char *rule);

/* Checks that date is a real calendar date written YYYY-MM-DD. opt names
 * the option in the message ("--from"). Returns 0 or -1 with err filled. */
int report_date_check(const char *opt, const char *date, char *err, size_t errlen);

/* Both dates valid and from <= to. */
int report_period_check(const char *from, const char *to, char *err, size_t errlen);

/* The day after date (a valid YYYY-MM-DD); out may be date. */
void report_next_day(const char *date, char out[REPORT_DATE_LEN + 1]);

/* Fills *out for every device registered to clinic (retired ones too),
 * counting records whose ts falls on the clinic's local days from..to
 * inclusive, with the day series, sterilizer log, tests and violations,
 * and the clinic's registration (a registered timezone the tz database
 * cannot give is an error naming the command that fixes it). generated_at is
 * copied into the data for renderers. A clinic with no registered devices
 * is an error naming it. Every section is read from one snapshot
 * (sqldb_begin SQLDB_SNAPSHOT, ended before returning): db must not be in
 * a transaction. Borrows db. On success the caller frees *out with
 * report_data_free; on failure *out holds nothing to free. */
int report_data_load(sqldb *db, const char *clinic, const char *from, const char *to,
                     const char *generated_at, report_data *out, char *err, size_t errlen);

/* report_data_load inside the caller's transaction (the audit export reads
 * more from the same snapshot): begins and ends none. */
int report_data_read(sqldb *db, const char *clinic, const char *from, const char *to,
                     const char *generated_at, report_data *out, char *err, size_t errlen);

void report_data_free(report_data *d);

/* A stored UTC time (ts, raised_at: RECORD_TS_LEN) in the report's zone:
 * for people "2026-03-02 16:23 PST", for machines
 * "2026-03-02T16:23:00-08:00". "" stays ""; text that is not such a time
 * is copied as it is. */
void report_local_text(const report_data *d, const char *ts, char out[REPORT_LOCAL_LEN + 1]);
void report_local_iso(const report_data *d, const char *ts, char out[REPORT_ISO_LEN + 1]);

/* ts (RECORD_TS_LEN, UTC) moved by ms milliseconds, into out; text that is
 * not such a time is copied as it is. */
void report_ts_add(const char *ts, int64_t ms, char out[REPORT_TS_LEN + 1]);

/* The report's queries of records (?1 clinic, ?2 from_ts, ?3 until_ts;
 * the sterilizer log's reaches further either side, report_cycles.h)
 * as run on db (the index hint is SQLite's alone, db_compliance_index):
 * the i-th into out, for the test that keeps them on the index. Returns 0,
 * or -1 when there is no i-th query (or out is too small). */
int report_data_query(sqldb *db, size_t i, char *out, size_t cap);

/* Writes into out the query of the compliance records of a clinic's
 * devices: SELECT columns (of records r) where r.type IN types (some of
 * DB_COMPLIANCE_TYPES, "('session.start')"), ?1 clinic, r.ts in ?2..?3
 * (first instant, exclusive upper bound), then order_by ("" or " ORDER BY ..."), on
 * the index records_compliance. Returns 0, or -1 when out is too small. */
int report_compliance_sql(sqldb *db, const char *columns, const char *types,
                          const char *order_by, char *out, size_t cap);

/* The report's one-sentence verdict, the same in every format: "No
 * records in this period ...", "Attention: ..." (*bad) or "No violations
 * ...". */
void report_verdict(const report_data *d, char *out, size_t cap, bool *bad);

#define REPORT_SIGNATORY_MAX 200  /* bytes of --signatory */

/* Checks a --signatory value: "Name, Role" (the role after the last
 * comma, and optional), plain UTF-8 text without control characters, at
 * most REPORT_SIGNATORY_MAX bytes, a name before the comma. Returns 0, or
 * -1 with err naming --signatory and what to write. */
int report_signatory_check(const char *text, char *err, size_t errlen);

/* Checks text (report_signatory_check) and keeps its name and role in d
 * for the signature block. Returns 0, or -1 with err filled. */
int report_data_set_signatory(report_data *d, const char *text, char *err, size_t errlen);

/* Formats tenths as a decimal with one place ("132.1", "-0.5"). */
void report_dec1(int64_t tenths, char out[32]);

#endif
