#include "report_data.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "flatjson.h"
#include "growarr.h"
#include "record.h"
#include "report_cycles.h"
#include "report_sterilizers.h"
#include "strpool.h"
#include "utf8.h"


static const char *const col_names[REPORT_NCOLS] = {
    "sessions", "cartridges", "strokes", "cycles_passed",
    "cycles_failed", "spore_tests", "spore_positive",
};
static const char *const col_titles[REPORT_NCOLS] = {
    "Sessions", "Cartridges", "Strokes", "Cycles passed",
    "Cycles failed", "Spore tests", "Spore positive",
};

/* The rule titles of docs/rules.md, which also has the thresholds. */
static const struct { const char *rule, *title; } rule_titles[] = {
    {"R1", "Cartridge used in more than one session"},
    {"R2", "Cartridge expired or without lot number"},
    {"R3", "Cartridge worn: replace"},
    {"R4", "Sterilization cycle failed"},
    {"R5", "Grip from a failed or unverified load used"},
    {"R6", "Spore test overdue"},
    {"R7", "Positive spore test: recall"},
    {"R8", "Device silent"},
    {"R9", "Record chain integrity"},
    {"R10", "Device clock off"},
    {"R11", "Motor service due"},
};

/* Every query of records goes through the covering partial index
 * records_compliance (common/db.c): a clinic's compliance records of a
 * period are then one sequential range per device and type, and never a
 * lookup in the records table itself. SQLite must be told the index
 * (db_compliance_index), and CROSS JOIN keeps devices its outer loop:
 * left to itself it scans the whole index (every clinic) and looks each
 * device up, which grows with the fleet. PostgreSQL reads CROSS JOIN with
 * a WHERE as the same inner join and plans it itself. ?1 clinic, ?2 the
 * period's first instant, ?3 the first instant after it (UTC ts text:
 * the clinic's local midnights). */
#define COMPLIANCE_SQL                                                                 \
    "SELECT %s FROM devices d CROSS JOIN records r%s"                                \
    " WHERE d.clinic = ?1 AND r.device_id = d.device_id"                             \
    "  AND r.%s AND r.type IN %s AND r.ts >= ?2 AND r.ts < ?3%s"

/* Devices with no records in the period are listed too: a silent machine
 * is worth seeing. */
static const char devices_sql[] =
    "SELECT device_id, CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END,"
    " CASE WHEN kind = 'sterilizer' THEN 1 ELSE 0 END FROM devices"
    " WHERE clinic = ?1 ORDER BY device_id";

/* The queries of records. Bodies are split in C (flatjson): one pass per
 * record instead of a json_extract parse per field halves a clinic-year
 * report's time. Sessions and cartridges are only counted, so their order
 * does not matter; (device_id, seq) is unique, so the ordered ones read
 * the same from either store. */
enum { Q_SESSIONS, Q_CARTRIDGES, Q_CYCLES, Q_TESTS, Q_COUNT };

static const struct {
    const char *columns, *types, *order_by;
} records_queries[Q_COUNT] = {
    [Q_SESSIONS] = {"r.device_id, r.ts, r.type, r.body", "('session.start', 'session.end')", ""},
    [Q_CARTRIDGES] = {"r.device_id, r.body", "('cartridge.insert')", ""},
    [Q_CYCLES] = {"r.device_id, r.seq, r.ts, r.body", "('sterilization.cycle')",
                  " ORDER BY r.ts, r.device_id, r.seq"},
    [Q_TESTS] = {"r.device_id, r.seq, r.ts, r.body", "('sterilization.test')",
                 " ORDER BY r.ts, r.device_id, r.seq"},
};

/* Alerts raised from the period's start on; read_violations keeps those
 * raised in the period or citing a record of it (a backlog delivered
 * late raises its alerts after the period). Never-read alerts of years
 * before are skipped by the index alerts_by_clinic_raised. */
static const char alerts_sql[] =
    "SELECT id, rule, severity, device_id, cause, message, evidence, raised_at,"
    " coalesce(acked_at, ''), coalesce(acked_by, ''), coalesce(cleared_at, ''),"
    " coalesce(state, '')"
    " FROM alerts WHERE clinic = ?1 AND raised_at >= ?2 AND coalesce(state, '') <> 'pending'"
    " ORDER BY raised_at, id";

static const char cited_sql[] =
    "SELECT ts, type, body FROM records WHERE device_id = ?1 AND seq = ?2";

int report_compliance_sql(sqldb *db, const char *columns, const char *types,
                          const char *order_by, char *out, size_t cap)
{
    int n = snprintf(out, cap, COMPLIANCE_SQL, columns, db_compliance_index(db),
                     db_compliance_type_term(db), types, order_by);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int report_data_query(sqldb *db, size_t i, char *out, size_t cap)
{
    if (i >= Q_COUNT)
        return -1;
    return report_compliance_sql(db, records_queries[i].columns, records_queries[i].types,
                                 records_queries[i].order_by, out, cap);
}

const char *report_col_name(report_col col)
{
    return (unsigned)col < REPORT_NCOLS ? col_names[col] : "?";
}

const char *report_col_title(report_col col)
{
    return (unsigned)col < REPORT_NCOLS ? col_titles[col] : "?";
}

const char *report_rule_title(const char *rule)
{
    for (size_t i = 0; i < sizeof rule_titles / sizeof rule_titles[0]; i++)
        if (strcmp(rule_titles[i].rule, rule) == 0)
            return rule_titles[i].title;
    return "";
}

void report_dec1(int64_t tenths, char out[32])
{
    int64_t a = tenths < 0 ? -tenths : tenths;
    snprintf(out, 32, "%s%lld.%lld", tenths < 0 ? "-" : "", (long long)(a / 10),
             (long long)(a % 10));
}

/* ---- dates ------------------------------------------------------------ */

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int report_date_check(const char *opt, const char *date, char *err, size_t errlen)
{
    int y = 0, m = 0, d = 0;

    if (date == NULL || strlen(date) != REPORT_DATE_LEN || date[4] != '-' || date[7] != '-')
        goto bad;
    for (int i = 0; i < REPORT_DATE_LEN; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9'))
            goto bad;
    y = atoi(date);
    m = atoi(date + 5);
    d = atoi(date + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        goto bad;
    return 0;

bad:
    snprintf(err, errlen, "%s: '%s' is not a calendar date; write it as YYYY-MM-DD", opt,
             date ? date : "");
    return -1;
}

int report_period_check(const char *from, const char *to, char *err, size_t errlen)
{
    if (report_date_check("--from", from, err, errlen) != 0 ||
        report_date_check("--to", to, err, errlen) != 0)
        return -1;
    /* Same fixed width, so text order is date order. */
    if (strcmp(from, to) > 0) {
        snprintf(err, errlen, "--from %s is after --to %s; swap them", from, to);
        return -1;
    }
    return 0;
}

void report_next_day(const char *date, char out[REPORT_DATE_LEN + 1])
{
    int y = atoi(date), m = atoi(date + 5), d = atoi(date + 8) + 1;

    if (d > days_in_month(y, m)) {
        d = 1;
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    snprintf(out, REPORT_DATE_LEN + 1, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}

/* ---- memory ----------------------------------------------------------- */

static const char *arena_dup(report_data *d, const char *s, size_t len)
{
    return strpool_dup(&d->arena, s, len);
}

/* Column i as an arena string ("" for NULL); NULL when out of memory. */
static const char *col_str(report_data *d, sqldb_stmt *st, int i)
{
    const char *t = sqldb_column_text(st, i);
    return arena_dup(d, t, t ? sqldb_column_bytes(st, i) : 0);
}

/* ---- queries ---------------------------------------------------------- */

typedef struct query {
    sqldb *db;
    report_data *d;
    char *err;
    size_t errlen;
} query;

static int db_fail(query *q, const char *what)
{
    return db_error(q->db, what, q->err, q->errlen);
}

static int oom(query *q, const char *what)
{
    snprintf(q->err, q->errlen, "report: out of memory reading %s", what);
    return -1;
}

/* Prepares sql with its nparams of ?1 clinic, ?2 from_ts, ?3 until_ts
 * (the first nparams of them: a statement is given exactly those it
 * uses). */
static int prepare(query *q, const char *sql, int nparams, sqldb_stmt **st)
{
    const char *params[] = {q->d->clinic, q->d->from_ts, q->d->until_ts};

    if (sqldb_prepare(q->db, sql, st) != 0)
        return -1;
    for (int i = 0; i < nparams; i++)
        if (sqldb_bind_text(*st, i + 1, params[i]) != 0)
            return -1;
    return 0;
}

static int read_device(query *q, sqldb_stmt *st, size_t *cap)
{
    report_data *d = q->d;
    report_row *row;

    if (growarr_reserve((void **)&d->rows, cap, d->nrows, sizeof *d->rows) != 0)
        return -1;
    row = &d->rows[d->nrows++];
    memset(row, 0, sizeof *row);
    sqldb_column_copy(st, 0, row->device_id, sizeof row->device_id);
    row->retired = sqldb_column_int64(st, 1) != 0;
    row->sterilizer = sqldb_column_int64(st, 2) != 0;
    d->nretired += row->retired;
    return 0;
}

static int cmp_device(const void *key, const void *elem)
{
    return strcmp(key, ((const report_row *)elem)->device_id);
}

/* The row of device id; NULL for a device not of the clinic (the joins
 * rule that out). */
static report_row *device_row(const report_data *d, const char *id)
{
    return id ? bsearch(id, d->rows, d->nrows, sizeof *d->rows, cmp_device) : NULL;
}

/* The local day a ts falls on, by the UTC instants of the days' starts
 * (fixed-width ts text: text order is time order); NULL outside the
 * period. */
static report_day *day_of(const report_data *d, const char *ts)
{
    size_t lo = 0, hi = d->ndays;

    if (!ts || d->ndays == 0 || strcmp(ts, d->from_ts) < 0 || strcmp(ts, d->until_ts) >= 0)
        return NULL;
    while (hi - lo > 1) {   /* days[lo].start_ts <= ts < days[hi].start_ts */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->days[mid].start_ts, ts) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    return &d->days[lo];
}

/* *acc += v; -1 if that overflows int64 (a corrupt store, but not a
 * reason for undefined behaviour). */
static int add(int64_t *acc, int64_t v)
{
    return __builtin_add_overflow(*acc, v, acc) ? -1 : 0;
}

static int overflow(query *q)
{
    snprintf(q->err, q->errlen, "report: a total overflows; the store holds impossible counts, "
             "check its records table");
    return -1;
}

/* Runs sql (nparams as prepare takes them) and hands each row to fn;
 * what names the query in errors. */
static int for_each_row(query *q, const char *sql, int nparams, const char *what,
                        int (*fn)(query *, sqldb_stmt *, size_t *))
{
    sqldb_stmt *st = NULL;
    size_t cap = 0;
    int rc = -1, step;

    if (prepare(q, sql, nparams, &st) != 0) {
        db_fail(q, what);
        goto cleanup;
    }
    while ((step = sqldb_step(st)) == 1) {
        if (fn(q, st, &cap) != 0) {
            if (q->err[0] == '\0')
                oom(q, what);
            goto cleanup;
        }
    }
    if (step < 0) {
        db_fail(q, what);
        goto cleanup;
    }
    rc = 0;
cleanup:
    sqldb_finalize(st);
    return rc;
}

/* for_each_row on the i-th query of records. */
static int for_each_record(query *q, size_t i, const char *what,
                           int (*fn)(query *, sqldb_stmt *, size_t *))
{
    char sql[1024];

    if (report_data_query(q->db, i, sql, sizeof sql) != 0) {
        snprintf(q->err, q->errlen, "report: the %s does not fit its buffer", what);
        return -1;
    }
    return for_each_row(q, sql, 3, what, fn);
}

/* Splits the body in column i; false for a body that is not a flat
 * object (the collector stores only canonical records). */
static bool body_of(sqldb_stmt *st, int i, flatjson *j)
{
    const char *body = sqldb_column_text(st, i);
    return body && flatjson_parse(body, sqldb_column_bytes(st, i), j) == 0;
}

static int read_sessions(query *q, sqldb_stmt *st, size_t *cap)
{
    report_row *row = device_row(q->d, sqldb_column_text(st, 0));
    report_day *day = day_of(q->d, sqldb_column_text(st, 1));
    const char *type = sqldb_column_text(st, 2);
    flatjson j;

    (void)cap;
    if (row == NULL || day == NULL || type == NULL)
        return 0;
    if (strcmp(type, "session.start") == 0) {
        row->count[RC_SESSIONS]++;
        day->sessions++;
        return 0;
    }
    if (!body_of(st, 3, &j))
        return 0;
    int64_t strokes = flatjson_int(&j, "strokes");
    if (add(&row->count[RC_STROKES], strokes) != 0 || add(&day->strokes, strokes) != 0)
        return overflow(q);
    return 0;
}

/* (device row, cartridge uid) pairs, to count distinct uids per device. */
typedef struct cart_key {
    size_t row;
    const char *uid;
} cart_key;

typedef struct cart_keys {
    cart_key *k;
    size_t n, cap;
    strpool *pool;
} cart_keys;

static int cmp_cart_key(const void *a, const void *b)
{
    const cart_key *x = a, *y = b;
    return x->row != y->row ? (x->row > y->row) - (x->row < y->row) : strcmp(x->uid, y->uid);
}

static int read_cartridges(query *q, cart_keys *keys, sqldb_stmt *st)
{
    report_row *row = device_row(q->d, sqldb_column_text(st, 0));
    char uid[RECORD_STR_MAX + 1];
    flatjson j;

    if (row == NULL || !body_of(st, 1, &j))
        return 0;
    if (growarr_reserve((void **)&keys->k, &keys->cap, keys->n, sizeof *keys->k) != 0)
        return -1;
    keys->k[keys->n].row = (size_t)(row - q->d->rows);
    flatjson_str(&j, "cartridge_uid", uid, sizeof uid);
    if ((keys->k[keys->n].uid = strpool_str(&keys->pool, uid)) == NULL)
        return -1;
    keys->n++;
    return 0;
}

static int count_cartridges(query *q)
{
    cart_keys keys = {0};
    sqldb_stmt *st = NULL;
    char sql[1024];
    int rc = -1, step;

    if (report_data_query(q->db, Q_CARTRIDGES, sql, sizeof sql) != 0 ||
        prepare(q, sql, 3, &st) != 0) {
        db_fail(q, "cartridges query");
        goto cleanup;
    }
    while ((step = sqldb_step(st)) == 1) {
        if (read_cartridges(q, &keys, st) != 0) {
            oom(q, "cartridges");
            goto cleanup;
        }
    }
    if (step < 0) {
        db_fail(q, "cartridges query");
        goto cleanup;
    }
    if (keys.n > 1)
        qsort(keys.k, keys.n, sizeof *keys.k, cmp_cart_key);
    for (size_t i = 0; i < keys.n; i++)
        if (i == 0 || cmp_cart_key(&keys.k[i - 1], &keys.k[i]) != 0)
            q->d->rows[keys.k[i].row].count[RC_CARTRIDGES]++;
    rc = 0;
cleanup:
    sqldb_finalize(st);
    free(keys.k);
    strpool_free(&keys.pool);
    return rc;
}

/* Sums rows into total; -1 if a column overflows int64 (a corrupt store,
 * but not a reason for undefined behaviour). */
static int sum_rows(report_data *d)
{
    memset(&d->total, 0, sizeof d->total);
    snprintf(d->total.device_id, sizeof d->total.device_id, "TOTAL");
    for (size_t i = 0; i < d->nrows; i++)
        for (int c = 0; c < REPORT_NCOLS; c++)
            if (__builtin_add_overflow(d->total.count[c], d->rows[i].count[c],
                                       &d->total.count[c]))
                return -1;
    return 0;
}

/* The UTC instant (ts text) at which the clinic's local day date begins.
 * Dates are checked (report_period_check); the one that is not is the day
 * after 9999-12-31, which report_next_day wraps to 0000-01-01: "~" sorts
 * after every ts. */
static void day_start(const report_data *d, const char *date, char out[REPORT_TS_LEN + 1])
{
    int y, m, dd;

    if (tzlocal_parse_date(date, &y, &m, &dd) != 0)
        snprintf(out, REPORT_TS_LEN + 1, "~");
    else
        record_ts_format(tzlocal_day_start(d->zone, y, m, dd) * 1000, out);
}

/* Every day of the period with the instant it starts, zeros first; the
 * queries fill the busy ones. The period's bounds are the first day's
 * start and the start of the day after the last. */
static int make_days(report_data *d)
{
    size_t n = 1;
    char day[REPORT_DATE_LEN + 1];

    for (memcpy(day, d->from, sizeof day); strcmp(day, d->to) < 0; report_next_day(day, day))
        n++;
    if ((d->days = calloc(n, sizeof *d->days)) == NULL)
        return -1;
    memcpy(day, d->from, sizeof day);
    for (d->ndays = 0; d->ndays < n; d->ndays++) {
        memcpy(d->days[d->ndays].date, day, sizeof day);
        day_start(d, day, d->days[d->ndays].start_ts);
        report_next_day(day, day);
    }
    memcpy(d->from_ts, d->days[0].start_ts, sizeof d->from_ts);
    day_start(d, day, d->until_ts);
    return 0;
}

/* A string member of a body as an arena string; NULL when out of memory. */
static const char *field_str(report_data *d, const flatjson *j, const char *key)
{
    char buf[RECORD_STR_MAX + 1];
    return strpool_str(&d->arena, flatjson_str(j, key, buf, sizeof buf));
}

/* The records R4 alerts judged: each non-withdrawn R4 alert by the record
 * it cites first (device, seq), so a cycle finds its verdict by search,
 * not by reading every alert (a clinic-year has thousands of both). */
typedef struct r4_ref {
    const char *device_id;
    int64_t seq;
    const report_violation *v;
} r4_ref;

typedef struct r4_index {
    r4_ref *refs;
    size_t n;
} r4_index;

static int cmp_r4_ref(const void *a, const void *b)
{
    const r4_ref *x = a, *y = b;
    int c = strcmp(x->device_id, y->device_id);
    if (c == 0)
        c = (x->seq > y->seq) - (x->seq < y->seq);
    /* The earliest alert (violations are by raised_at, id) first. */
    return c ? c : (x->v > y->v) - (x->v < y->v);
}

static int r4_index_make(const report_data *d, r4_index *ix)
{
    ix->n = 0;
    if ((ix->refs = malloc((d->nviolations ? d->nviolations : 1) * sizeof *ix->refs)) == NULL)
        return -1;
    for (size_t i = 0; i < d->nviolations; i++) {
        const report_violation *v = &d->violations[i];
        if (strcmp(v->rule, "R4") == 0 && v->ncited > 0 && strcmp(v->state, "withdrawn") != 0)
            ix->refs[ix->n++] = (r4_ref){v->cited[0].device_id, v->cited[0].seq, v};
    }
    if (ix->n > 1)
        qsort(ix->refs, ix->n, sizeof *ix->refs, cmp_r4_ref);
    return 0;
}

/* The first R4 alert that judged the record (device, seq), or NULL. */
static const report_violation *r4_find(const r4_index *ix, const char *device, int64_t seq)
{
    size_t lo = 0, hi = ix->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const r4_ref *r = &ix->refs[mid];
        int c = strcmp(r->device_id, device);
        if (c == 0)
            c = (r->seq > seq) - (r->seq < seq);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ix->n && ix->refs[lo].seq == seq && strcmp(ix->refs[lo].device_id, device) == 0)
        return ix->refs[lo].v;
    return NULL;
}

/* The collector's verdict on the cycle: the R4 alert citing any of its
 * records first (R4 judged whichever copy it stored first, which need not
 * be the one the report lists: report_cycles.h), or NULL. */
static const report_violation *r4_of(const report_data *d, const r4_index *ix,
                                     const report_cycle *c)
{
    const report_violation *found = NULL;

    for (size_t k = 0; k < c->ncopies; k++) {
        const report_copy *copy = &d->copies[c->copies + k];
        const report_violation *v = r4_find(ix, copy->device_id, copy->seq);
        if (v != NULL && (found == NULL || v < found))
            found = v;
    }
    return found;
}

/* "temperature, exposure" from the evidence's "reasons". */
static const char *r4_reasons(report_data *d, const report_violation *v)
{
    cJSON *ev = cJSON_Parse(v->evidence), *item;
    char buf[200] = "";
    size_t n = 0;

    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(ev, "reasons"))
        if (cJSON_IsString(item))
            n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s",
                                  n ? ", " : "", item->valuestring);
    cJSON_Delete(ev);
    return strpool_str(&d->arena, buf);
}

/* One truth: a cycle is failed when R4 failed it (the collector's policy:
 * minimum temperature and exposure, chemical indicator) or when the
 * sterilizer itself said fail / aborted; its own verdict stays beside it.
 * It counts once, for the device whose record is the cycle. */
static int count_cycle(query *q, const r4_index *ix, report_cycle *c)
{
    report_row *row = device_row(q->d, c->device_id);
    report_day *day = day_of(q->d, c->ts);
    const report_violation *r4 = r4_of(q->d, ix, c);
    bool failed, passed;

    c->r4_failed = r4 != NULL;
    if (!(c->r4_reasons = r4 ? r4_reasons(q->d, r4) : strpool_str(&q->d->arena, "")))
        return -1;
    failed = c->failed = c->r4_failed || strcmp(c->result, "pass") != 0;
    passed = !failed;

    if (row == NULL || day == NULL)
        return 0;
    row->count[RC_CYCLES_PASSED] += passed;
    row->count[RC_CYCLES_FAILED] += failed;
    day->cycles_passed += passed;
    day->cycles_failed += failed;
    return 0;
}

/* The sterilizer log: each cycle once (report_cycles), then judged and
 * counted. */
static int read_cycles(query *q)
{
    char sql[1024];
    r4_index ix;
    int rc = 0;

    if (report_data_query(q->db, Q_CYCLES, sql, sizeof sql) != 0) {
        snprintf(q->err, q->errlen, "report: the sterilizer log query does not fit its buffer");
        return -1;
    }
    if (report_cycles_read(q->db, q->d, sql, q->err, q->errlen) != 0)
        return -1;
    if (r4_index_make(q->d, &ix) != 0)
        return oom(q, "the sterilizer log");
    for (size_t i = 0; rc == 0 && i < q->d->ncycles; i++)
        rc = count_cycle(q, &ix, &q->d->cycles[i]);
    free(ix.refs);
    return rc == 0 ? 0 : oom(q, "the sterilizer log");
}

/* A test logged by several devices (the autoclave's agent and a machine)
 * is one test, as the collector's rules take it (docs/rules.md,
 * "Sterilizers"): the same sterilizer, kind, cycle, lot, result and read
 * time. */
static bool logged_before(const report_data *d, const report_test *t)
{
    for (size_t i = 0; i < d->ntests; i++) {
        const report_test *o = &d->tests[i];
        if (o->cycle_no == t->cycle_no && strcmp(o->read_ts, t->read_ts) == 0 &&
            strcmp(o->sterilizer_id, t->sterilizer_id) == 0 && strcmp(o->kind, t->kind) == 0 &&
            strcmp(o->bi_lot, t->bi_lot) == 0 && strcmp(o->result, t->result) == 0)
            return true;
    }
    return false;
}

static int read_test(query *q, sqldb_stmt *st, size_t *cap)
{
    report_data *d = q->d;
    report_row *row;
    report_test *t;
    flatjson j;

    if (!body_of(st, 3, &j))
        return 0;
    if (growarr_reserve((void **)&d->tests, cap, d->ntests, sizeof *d->tests) != 0)
        return -1;
    t = &d->tests[d->ntests];
    t->seq = sqldb_column_int64(st, 1);
    t->cycle_no = flatjson_int(&j, "cycle_no");
    if (!(t->device_id = col_str(d, st, 0)) || !(t->ts = col_str(d, st, 2)) ||
        !(t->sterilizer_id = field_str(d, &j, "sterilizer_id")) ||
        !(t->kind = field_str(d, &j, "kind")) || !(t->bi_lot = field_str(d, &j, "bi_lot")) ||
        !(t->result = field_str(d, &j, "result")) || !(t->read_ts = field_str(d, &j, "read_ts")))
        return -1;
    if (logged_before(d, t))
        return 0;
    if (strcmp(t->kind, "bowie_dick") == 0) {
        d->bowie_dick_tests++;
        d->bowie_dick_failed += strcmp(t->result, "negative") != 0;
    } else if (strcmp(t->kind, "spore") == 0 && (row = device_row(d, t->device_id)) != NULL) {
        row->count[RC_SPORE_TESTS]++;
        row->count[RC_SPORE_POSITIVE] += strcmp(t->result, "positive") == 0;
    }
    d->ntests++;
    return 0;
}

/* Cycles ordered by (sterilizer, cycle no): the key of a cycle, which a
 * test names whichever device logged it. */
static int cmp_cycle_key(const report_cycle *a, const report_cycle *b)
{
    int c = strcmp(a->sterilizer_id, b->sterilizer_id);
    return c ? c : (a->cycle_no > b->cycle_no) - (a->cycle_no < b->cycle_no);
}

static int cmp_cycle_ptr(const void *a, const void *b)
{
    return cmp_cycle_key(*(report_cycle *const *)a, *(report_cycle *const *)b);
}

/* Links every test to the clinic's cycle it was run in (each cycle is
 * listed once, so keys are unique): a later test of the same kind (a
 * repeat read) replaces an earlier one, since tests are in ts order. */
static int link_tests(report_data *d)
{
    report_cycle **by;

    if (d->ncycles == 0 || d->ntests == 0)
        return 0;
    if ((by = malloc(d->ncycles * sizeof *by)) == NULL)
        return -1;
    for (size_t i = 0; i < d->ncycles; i++)
        by[i] = &d->cycles[i];
    qsort(by, d->ncycles, sizeof *by, cmp_cycle_ptr);
    for (size_t t = 0; t < d->ntests; t++) {
        const report_test *test = &d->tests[t];
        report_cycle key = {.sterilizer_id = test->sterilizer_id, .cycle_no = test->cycle_no};
        const report_cycle *k = &key;
        report_cycle **hit = bsearch(&k, by, d->ncycles, sizeof *by, cmp_cycle_ptr);
        if (hit == NULL)
            continue;
        if (strcmp(test->kind, "spore") == 0)
            (*hit)->spore = (long)t;
        else
            (*hit)->bowie_dick = (long)t;
    }
    free(by);
    return 0;
}

/* ---- violations ------------------------------------------------------- */

/* Collects every object of the evidence with a numeric "seq" (depth
 * first, in document order). */
static void collect_refs(report_violation *v, const cJSON *node, const char *alert_device,
                         report_cited *refs, size_t *nrefs)
{
    const cJSON *seq, *dev, *child;

    if (cJSON_IsObject(node)) {
        seq = cJSON_GetObjectItemCaseSensitive(node, "seq");
        dev = cJSON_GetObjectItemCaseSensitive(node, "device");
        if (cJSON_IsNumber(seq) && seq->valuedouble >= 1) {
            if (*nrefs < REPORT_CITED_MAX) {
                refs[*nrefs].device_id = cJSON_IsString(dev) ? dev->valuestring : alert_device;
                refs[*nrefs].seq = (int64_t)seq->valuedouble;
                (*nrefs)++;
            }
            v->nevidence++;
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node))
        cJSON_ArrayForEach(child, node)
            collect_refs(v, child, alert_device, refs, nrefs);
}

/* Fills cited[i] from the store; only records of the clinic's own devices
 * (a cited record of another clinic stays a reference). */
static int fetch_cited(query *q, sqldb_stmt *st, report_cited *c, const char *device)
{
    int step;

    if ((c->device_id = arena_dup(q->d, device, strlen(device))) == NULL)
        return -1;
    c->ts = c->type = c->body = NULL;
    if (device_row(q->d, device) == NULL)
        return 0;
    sqldb_reset(st);
    if (sqldb_bind_text(st, 1, device) != 0 || sqldb_bind_int64(st, 2, c->seq) != 0)
        return db_fail(q, "cited record");
    step = sqldb_step(st);
    if (step == 1) {
        if (!(c->ts = col_str(q->d, st, 0)) || !(c->type = col_str(q->d, st, 1)) ||
            !(c->body = col_str(q->d, st, 2)))
            return -1;
        sqldb_reset(st);
    } else if (step < 0) {
        return db_fail(q, "cited record");
    }
    return 0;
}

/* Resolves the evidence of v into v->cited. */
static int cite(query *q, sqldb_stmt *cited, report_violation *v)
{
    report_cited refs[REPORT_CITED_MAX];
    size_t nrefs = 0;
    cJSON *ev = cJSON_Parse(v->evidence);
    int rc = 0;

    if (ev)
        collect_refs(v, ev, v->device_id, refs, &nrefs);
    for (size_t i = 0; i < nrefs && rc == 0; i++) {
        v->cited[i].seq = refs[i].seq;
        rc = fetch_cited(q, cited, &v->cited[i], refs[i].device_id);
    }
    v->ncited = nrefs;
    cJSON_Delete(ev);
    return rc;
}

static bool in_period(const report_data *d, const char *ts)
{
    return ts && strcmp(ts, d->from_ts) >= 0 && strcmp(ts, d->until_ts) < 0;
}

static int read_violation(query *q, sqldb_stmt *st, sqldb_stmt *cited, size_t *cap)
{
    report_data *d = q->d;
    report_violation *v;
    bool keep;

    if (growarr_reserve((void **)&d->violations, cap, d->nviolations, sizeof *d->violations) != 0)
        return oom(q, "alerts");
    v = &d->violations[d->nviolations];
    memset(v, 0, sizeof *v);
    v->id = sqldb_column_int64(st, 0);
    if (!(v->rule = col_str(d, st, 1)) || !(v->severity = col_str(d, st, 2)) ||
        !(v->device_id = col_str(d, st, 3)) || !(v->cause = col_str(d, st, 4)) ||
        !(v->message = col_str(d, st, 5)) || !(v->evidence = col_str(d, st, 6)) ||
        !(v->raised_at = col_str(d, st, 7)) || !(v->acked_at = col_str(d, st, 8)) ||
        !(v->acked_by = col_str(d, st, 9)) || !(v->cleared_at = col_str(d, st, 10)) ||
        !(v->state = col_str(d, st, 11)))
        return oom(q, "alerts");
    v->notice = strcmp(v->severity, "maintenance") == 0;
    v->filed_under = report_sterilizer_of(d, v->device_id) ? REPORT_FILED_STERILIZER
                     : device_row(d, v->device_id)        ? REPORT_FILED_DEVICE
                                                          : REPORT_FILED_UNKNOWN;
    if (cite(q, cited, v) != 0)
        return q->err[0] ? -1 : oom(q, "cited records");
    keep = in_period(d, v->raised_at);
    for (size_t i = 0; i < v->ncited && !keep; i++)
        keep = in_period(d, v->cited[i].ts);
    d->nviolations += keep;
    return 0;
}

static int read_violations(query *q)
{
    sqldb_stmt *st = NULL, *cited = NULL;
    size_t cap = 0;
    int rc = -1, step;

    if (prepare(q, alerts_sql, 2, &st) != 0 || sqldb_prepare(q->db, cited_sql, &cited) != 0) {
        db_fail(q, "alerts query");
        goto cleanup;
    }
    while ((step = sqldb_step(st)) == 1)
        if (read_violation(q, st, cited, &cap) != 0)
            goto cleanup;
    if (step < 0) {
        db_fail(q, "alerts query");
        goto cleanup;
    }
    rc = 0;
cleanup:
    sqldb_finalize(cited);
    sqldb_finalize(st);
    return rc;
}

static long rule_number(const char *rule)
{
    return rule[0] == 'R' ? strtol(rule + 1, NULL, 10) : 0;
}

static int cmp_rule(const void *a, const void *b)
{
    const report_rule_count *x = a, *y = b;
    long nx = rule_number(x->rule), ny = rule_number(y->rule);
    return nx != ny ? (nx > ny) - (nx < ny) : strcmp(x->rule, y->rule);
}

static int count_rules(report_data *d)
{
    size_t cap = 0;

    for (size_t i = 0; i < d->nviolations; i++) {
        const report_violation *v = &d->violations[i];
        size_t k = 0;
        if (strcmp(v->state, "withdrawn") == 0) {
            d->nwithdrawn++;
            continue;
        }
        if (v->notice) {
            d->nnotices++;
            continue;
        }
        d->nviolations_counted++;
        while (k < d->nrules && strcmp(d->rules[k].rule, v->rule) != 0)
            k++;
        if (k == d->nrules) {
            if (growarr_reserve((void **)&d->rules, &cap, d->nrules, sizeof *d->rules) != 0)
                return -1;
            d->rules[d->nrules++] = (report_rule_count){.rule = v->rule};
        }
        d->rules[k].count++;
        d->rules[k].open += v->cleared_at[0] == '\0';
        d->open_alerts += v->cleared_at[0] == '\0';
    }
    if (d->nrules > 1)
        qsort(d->rules, d->nrules, sizeof *d->rules, cmp_rule);
    return 0;
}

/* ---- the clinic --------------------------------------------------------- */

static const char clinic_sql[] =
    "SELECT name, address, licence, timezone FROM clinics WHERE clinic_id = ?1";

static int read_clinic(query *q, sqldb_stmt *st, size_t *cap)
{
    report_data *d = q->d;
    char tz[TZLOCAL_NAME_MAX + 1], why[384];

    (void)cap;
    if (!(d->clinic_name = col_str(d, st, 0)) || !(d->clinic_address = col_str(d, st, 1)) ||
        !(d->clinic_licence = col_str(d, st, 2)))
        return -1;
    sqldb_column_copy(st, 3, tz, sizeof tz);
    d->clinic_registered = true;
    /* A report in a calendar other than the one asked for would mislead:
     * a zone the tz database cannot give stops it. */
    if (tzlocal_load(tz, &d->zone, why, sizeof why) != 0) {
        snprintf(q->err, q->errlen, "clinic '%s': %s; set a zone of the tz database with smpctl "
                 "clinic set %s --timezone ZONE", d->clinic, why, d->clinic);
        return -1;
    }
    return 0;
}

/* The clinic's registration; a clinic not registered is its id, in UTC. */
static int load_clinic(query *q)
{
    report_data *d = q->d;

    d->zone = tzlocal_utc();
    if (for_each_row(q, clinic_sql, 1, "clinic query", read_clinic) != 0)
        return -1;
    if (!d->clinic_registered && (!(d->clinic_name = arena_dup(d, d->clinic, strlen(d->clinic))) ||
                                  !(d->clinic_address = arena_dup(d, "", 0)) ||
                                  !(d->clinic_licence = arena_dup(d, "", 0))))
        return oom(q, "the clinic");
    return 0;
}

void report_local_text(const report_data *d, const char *ts, char out[REPORT_LOCAL_LEN + 1])
{
    int64_t ms;

    if (record_ts_parse(ts, &ms) != 0)
        snprintf(out, REPORT_LOCAL_LEN + 1, "%s", ts);
    else
        tzlocal_text(d->zone, ms / 1000 - (ms % 1000 < 0), out);
}

void report_local_iso(const report_data *d, const char *ts, char out[REPORT_ISO_LEN + 1])
{
    int64_t ms;

    if (record_ts_parse(ts, &ms) != 0)
        snprintf(out, REPORT_ISO_LEN + 1, "%s", ts);
    else
        tzlocal_iso(d->zone, ms / 1000 - (ms % 1000 < 0), out);
}

void report_ts_add(const char *ts, int64_t ms, char out[REPORT_TS_LEN + 1])
{
    int64_t at;

    if (record_ts_parse(ts, &at) != 0 || __builtin_add_overflow(at, ms, &at))
        snprintf(out, REPORT_TS_LEN + 1, "%s", ts);
    else
        record_ts_format(at, out);
}

/* ---- loading ---------------------------------------------------------- */

static int load_all(query *q)
{
    report_data *d = q->d;

    if (load_clinic(q) != 0)
        return -1;
    if (for_each_row(q, devices_sql, 1, "devices query", read_device) != 0)
        return -1;
    if (d->nrows == 0) {
        snprintf(q->err, q->errlen, "clinic '%s' has no registered devices; check the name with "
                 "'smpctl device list --db %s'", d->clinic, sqldb_name(q->db));
        return -1;
    }
    if (report_sterilizers_read(q->db, d, q->err, q->errlen) != 0)
        return -1;
    if (make_days(d) != 0)
        return oom(q, "the days of the period");
    /* Violations first: the sterilizer log counts a cycle R4 failed.
     * Sterilizers before them: an alert may be filed under one. */
    if (read_violations(q) != 0)
        return -1;
    if (for_each_record(q, Q_SESSIONS, "sessions query", read_sessions) != 0 ||
        count_cartridges(q) != 0 || read_cycles(q) != 0 ||
        for_each_record(q, Q_TESTS, "tests query", read_test) != 0)
        return -1;
    if (sum_rows(d) != 0)
        return overflow(q);
    if (link_tests(d) != 0 || report_sterilizers_tally(d) != 0)
        return oom(q, "tests and sterilizers");
    d->no_records = d->total.count[RC_SESSIONS] == 0 && d->total.count[RC_CARTRIDGES] == 0 &&
                    d->ncycles == 0 && d->ntests == 0;
    return count_rules(d) == 0 ? 0 : oom(q, "rules");
}

int report_data_read(sqldb *db, const char *clinic, const char *from, const char *to,
                     const char *generated_at, report_data *out, char *err, size_t errlen)
{
    query q = {.db = db, .d = out, .err = err, .errlen = errlen};

    memset(out, 0, sizeof *out);
    if (errlen > 0)
        err[0] = '\0';
    if (clinic == NULL || clinic[0] == '\0') {
        snprintf(err, errlen, "--clinic is empty; give the clinic's name");
        return -1;
    }
    if (report_period_check(from, to, err, errlen) != 0)
        return -1;
    if ((out->clinic = strdup(clinic)) == NULL) {
        snprintf(err, errlen, "report: out of memory");
        return -1;
    }
    memcpy(out->from, from, REPORT_DATE_LEN + 1);
    memcpy(out->to, to, REPORT_DATE_LEN + 1);
    snprintf(out->generated_at, sizeof out->generated_at, "%s", generated_at ? generated_at : "");
    if (load_all(&q) != 0) {
        report_data_free(out);
        return -1;
    }
    return 0;
}

int report_data_load(sqldb *db, const char *clinic, const char *from, const char *to,
                     const char *generated_at, report_data *out, char *err, size_t errlen)
{
    /* One snapshot: every section comes from the same state of the store,
     * even while the collector writes. */
    memset(out, 0, sizeof *out);
    if (sqldb_begin(db, SQLDB_SNAPSHOT) != 0)
        return db_error(db, "begin a read snapshot", err, errlen);
    if (report_data_read(db, clinic, from, to, generated_at, out, err, errlen) != 0) {
        sqldb_rollback(db);
        return -1;
    }
    /* Nothing was written: ending the read is all the commit does. */
    if (sqldb_commit(db) != 0) {
        report_data_free(out);
        return db_error(db, "end the read snapshot", err, errlen);
    }
    return 0;
}

void report_data_free(report_data *d)
{
    strpool_free(&d->arena);
    free(d->clinic);
    free(d->rows);
    free(d->days);
    free(d->cycles);
    free(d->copies);
    free(d->sterilizers);
    free(d->tests);
    free(d->violations);
    free(d->rules);
    memset(d, 0, sizeof *d);
}

void report_verdict(const report_data *d, char *out, size_t cap, bool *bad)
{
    int64_t failed = d->total.count[RC_CYCLES_FAILED], positive = d->total.count[RC_SPORE_POSITIVE];

    *bad = d->nviolations_counted > 0 || failed > 0 || positive > 0;
    if (*bad) {
        snprintf(out, cap, "Attention: %" PRId64 " violation(s) of the compliance rules in this "
                 "period; %" PRId64 " alert(s) still open; %" PRId64 " sterilization cycle(s) "
                 "failed (rule R4, or the sterilizer's own result); %" PRId64 " positive spore "
                 "test(s).", d->nviolations_counted, d->open_alerts, failed, positive);
    } else if (d->no_records) {
        /* Nothing logged proves nothing: never "every cycle passed". */
        snprintf(out, cap, "No records in this period: the clinic's devices logged no session, "
                 "cartridge, sterilization cycle or test from %s to %s.", d->from, d->to);
    } else {
        snprintf(out, cap, "No violations recorded in this period. %s%s",
                 d->ncycles > 0 ? "Every sterilization cycle passed" :
                                  "No sterilization cycle was logged",
                 d->total.count[RC_SPORE_TESTS] > 0 ? " and no spore test was positive." :
                                                      "; no spore test was logged.");
    }
}

/* ---- the signatory -------------------------------------------------------- */

/* The last comma splits name and role: "Dr. A. Roe, MD, Clinic director"
 * is signed by "Dr. A. Roe, MD" as "Clinic director". */
static const char *role_comma(const char *text)
{
    return strrchr(text, ',');
}

/* [*s, *e) without the spaces around it. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && **s == ' ')
        (*s)++;
    while (*e > *s && (*e)[-1] == ' ')
        (*e)--;
}

int report_signatory_check(const char *text, char *err, size_t errlen)
{
    size_t n = text ? strlen(text) : 0;
    const char *s = text, *e;

    if (n == 0) {
        snprintf(err, errlen, "--signatory is empty; give \"Name, Role\" such as \"Jane Roe, "
                 "Clinic manager\" (or leave the option out to sign by hand)");
        return -1;
    }
    if (n > REPORT_SIGNATORY_MAX) {
        snprintf(err, errlen, "--signatory is %zu bytes; the limit is %d: give \"Name, Role\"", n,
                 REPORT_SIGNATORY_MAX);
        return -1;
    }
    if (utf8_has_control(text, n) || !utf8_valid(text, n)) {
        snprintf(err, errlen, "--signatory has a control character or is not UTF-8; give plain "
                 "text such as \"Jane Roe, Clinic manager\"");
        return -1;
    }
    if ((e = role_comma(text)) == NULL)
        e = text + n;
    trim(&s, &e);
    if (s == e) {
        snprintf(err, errlen, "--signatory has no name; give \"Name, Role\" such as \"Jane Roe, "
                 "Clinic manager\" (or leave the option out to sign by hand)");
        return -1;
    }
    return 0;
}

int report_data_set_signatory(report_data *d, const char *text, char *err, size_t errlen)
{
    const char *comma, *s, *e, *rs, *re;

    if (report_signatory_check(text, err, errlen) != 0)
        return -1;
    comma = role_comma(text);
    s = text;
    e = comma ? comma : text + strlen(text);
    rs = comma ? comma + 1 : e;
    re = text + strlen(text);
    trim(&s, &e);
    trim(&rs, &re);
    if (!(d->signatory_name = arena_dup(d, s, (size_t)(e - s))) ||
        !(d->signatory_role = arena_dup(d, rs, (size_t)(re - rs)))) {
        snprintf(err, errlen, "report: out of memory");
        return -1;
    }
    return 0;
}
