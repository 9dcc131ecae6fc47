#include "report_cycles.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "flatjson.h"
#include "growarr.h"
#include "record.h"
#include "strpool.h"

/* The fact of each cycle the records name, by sterilizer and a range of
 * cycle numbers: a range of rule_cycles' primary key. */
static const char facts_sql[] =
    "SELECT cycle_no, device_id, seq, ts FROM rule_cycles"
    " WHERE clinic = ?1 AND sterilizer_id = ?2 AND cycle_no >= ?3 AND cycle_no <= ?4";

/* A cycle record read, and what the choice of the facts needs of it. */
typedef struct copy_rec {
    report_cycle c;                     /* parsed; strings in d's arena */
    char content[RECORD_HASH_HEX];      /* SHA-256 of its fields but seq, ts, prev */
    size_t at;                          /* read order: by ts, device_id, seq */
    bool named;                         /* rule_cycles names it */
} copy_rec;

/* The records of one cycle: by[first .. first + n), in read order. */
typedef struct group {
    size_t first, n;
    bool has_row;                       /* rule_cycles has a row for it */
    char row_ts[REPORT_TS_LEN + 1];     /* ... with this ts */
} group;

typedef struct reader {
    sqldb *db;
    report_data *d;
    char *err;
    size_t errlen;
    copy_rec *recs;
    size_t n, cap;
    copy_rec **by;                      /* recs by sterilizer, cycle_no, read order */
    group *groups;
    size_t ngroups;
} reader;

static int oom(reader *r)
{
    snprintf(r->err, r->errlen, "report: out of memory reading the sterilizer log");
    return -1;
}

static const char *col_str(report_data *d, sqldb_stmt *st, int i)
{
    const char *t = sqldb_column_text(st, i);
    return strpool_dup(&d->arena, t, t ? sqldb_column_bytes(st, i) : 0);
}

static const char *field_str(report_data *d, const flatjson *j, const char *key)
{
    char buf[RECORD_STR_MAX + 1];
    return strpool_str(&d->arena, flatjson_str(j, key, buf, sizeof buf));
}

static bool chain_member(const flatjson_member *m)
{
    return (m->klen == 3 && memcmp(m->key, "seq", 3) == 0) ||
           (m->klen == 2 && memcmp(m->key, "ts", 2) == 0) ||
           (m->klen == 4 && memcmp(m->key, "prev", 4) == 0);
}

/* Appends len bytes of p to buf (n used of cap), cut at cap. */
static size_t put(char *buf, size_t n, size_t cap, const char *p, size_t len)
{
    if (len > cap - n)
        len = cap - n;
    memcpy(buf + n, p, len);
    return n + len;
}

/* What two copies of a cycle must share: every member of the body but
 * seq, ts and prev (the collector's rule, docs/rules.md). A body is
 * canonical (keys sorted, one spelling per value, no raw control
 * characters), so equal content is equal text between the separators. */
static void content_hash(const flatjson *j, char out[RECORD_HASH_HEX])
{
    char buf[RECORD_CANON_MAX];
    size_t n = 0;

    for (int i = 0; i < j->n; i++) {
        const flatjson_member *m = &j->m[i];
        if (chain_member(m))
            continue;
        n = put(buf, n, sizeof buf, m->key, m->klen);
        n = put(buf, n, sizeof buf, m->string ? "\n=s" : "\n=n", 3);
        n = put(buf, n, sizeof buf, m->val, m->vlen);
        n = put(buf, n, sizeof buf, "\n", 1);
    }
    record_sha256_hex(buf, n, out);
}

static int parse_cycle(report_data *d, sqldb_stmt *st, const flatjson *j, report_cycle *c)
{
    memset(c, 0, sizeof *c);
    c->seq = sqldb_column_int64(st, 1);
    c->cycle_no = flatjson_int(j, "cycle_no");
    c->setpoint_dc = flatjson_tenths(j, "setpoint_c");
    c->temp_min_dc = flatjson_tenths(j, "temp_min_c");
    c->temp_max_dc = flatjson_tenths(j, "temp_max_c");
    c->exposure_s = flatjson_int(j, "exposure_s");
    c->pressure_min_dkpa = flatjson_tenths(j, "pressure_min_kpa");
    c->pressure_max_dkpa = flatjson_tenths(j, "pressure_max_kpa");
    c->dry_s = flatjson_int(j, "dry_s");
    c->bowie_dick = c->spore = -1;
    if (!(c->device_id = col_str(d, st, 0)) || !(c->ts = col_str(d, st, 2)) ||
        !(c->sterilizer_id = field_str(d, j, "sterilizer_id")) ||
        !(c->load_id = field_str(d, j, "load_id")) || !(c->program = field_str(d, j, "program")) ||
        !(c->operator_id = field_str(d, j, "operator_id")) ||
        !(c->ci_result = field_str(d, j, "ci_result")) ||
        !(c->result = field_str(d, j, "result")) ||
        !(c->alarm_code = field_str(d, j, "alarm_code")))
        return -1;
    return 0;
}

static int read_row(reader *r, sqldb_stmt *st)
{
    const char *body = sqldb_column_text(st, 3);
    copy_rec *rec;
    flatjson j;

    /* The collector stores only canonical records: a body that is not a
     * flat object is no cycle. */
    if (body == NULL || flatjson_parse(body, sqldb_column_bytes(st, 3), &j) != 0)
        return 0;
    if (growarr_reserve((void **)&r->recs, &r->cap, r->n, sizeof *r->recs) != 0)
        return -1;
    rec = &r->recs[r->n];
    memset(rec, 0, sizeof *rec);
    if (parse_cycle(r->d, st, &j, &rec->c) != 0)
        return -1;
    content_hash(&j, rec->content);
    rec->at = r->n++;
    return 0;
}

static int read_records(reader *r, const char *sql)
{
    char lo[REPORT_TS_LEN + 1], hi[REPORT_TS_LEN + 1];
    sqldb_stmt *st = NULL;
    int rc = -1, step;

    report_ts_add(r->d->from_ts, -REPORT_CYCLE_WINDOW_MS, lo);
    report_ts_add(r->d->until_ts, REPORT_CYCLE_WINDOW_MS, hi);
    if (sqldb_prepare(r->db, sql, &st) != 0 || sqldb_bind_text(st, 1, r->d->clinic) != 0 ||
        sqldb_bind_text(st, 2, lo) != 0 || sqldb_bind_text(st, 3, hi) != 0) {
        db_error(r->db, "sterilizer log query", r->err, r->errlen);
        goto cleanup;
    }
    while ((step = sqldb_step(st)) == 1)
        if (read_row(r, st) != 0) {
            oom(r);
            goto cleanup;
        }
    if (step < 0) {
        db_error(r->db, "sterilizer log query", r->err, r->errlen);
        goto cleanup;
    }
    rc = 0;
cleanup:
    sqldb_finalize(st);
    return rc;
}

static int cmp_key(const char *ster_a, int64_t no_a, const char *ster_b, int64_t no_b)
{
    int c = strcmp(ster_a, ster_b);
    return c ? c : (no_a > no_b) - (no_a < no_b);
}

static int cmp_by(const void *a, const void *b)
{
    const copy_rec *x = *(copy_rec *const *)a, *y = *(copy_rec *const *)b;
    int c = cmp_key(x->c.sterilizer_id, x->c.cycle_no, y->c.sterilizer_id, y->c.cycle_no);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Sorts the records by cycle and cuts them into groups, one per cycle. */
static int make_groups(reader *r)
{
    size_t gcap = 0;

    if (r->n == 0)
        return 0;
    if ((r->by = malloc(r->n * sizeof *r->by)) == NULL)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        r->by[i] = &r->recs[i];
    if (r->n > 1)
        qsort(r->by, r->n, sizeof *r->by, cmp_by);
    for (size_t i = 0; i < r->n; i++) {
        const report_cycle *c = &r->by[i]->c, *p = i ? &r->by[i - 1]->c : NULL;
        if (p && cmp_key(p->sterilizer_id, p->cycle_no, c->sterilizer_id, c->cycle_no) == 0) {
            r->groups[r->ngroups - 1].n++;
            continue;
        }
        if (growarr_reserve((void **)&r->groups, &gcap, r->ngroups, sizeof *r->groups) != 0)
            return -1;
        r->groups[r->ngroups++] = (group){.first = i, .n = 1};
    }
    return 0;
}

/* The group of (sterilizer, cycle_no) among groups [lo, hi), or NULL. */
static group *find_group(reader *r, size_t lo, size_t hi, const char *ster, int64_t no)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const report_cycle *c = &r->by[r->groups[mid].first]->c;
        int k = cmp_key(c->sterilizer_id, c->cycle_no, ster, no);
        if (k == 0)
            return &r->groups[mid];
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void name_fact(reader *r, group *g, sqldb_stmt *st)
{
    const char *device = sqldb_column_text(st, 1);
    int64_t seq = sqldb_column_int64(st, 2);

    g->has_row = true;
    sqldb_column_copy(st, 3, g->row_ts, sizeof g->row_ts);
    for (size_t k = 0; device && k < g->n; k++) {
        copy_rec *rec = r->by[g->first + k];
        if (rec->c.seq == seq && strcmp(rec->c.device_id, device) == 0)
            rec->named = true;
    }
}

/* Marks the records rule_cycles names, one query per sterilizer over the
 * range of cycle numbers read (groups [lo, hi) are that sterilizer's). */
static int read_facts_of(reader *r, sqldb_stmt *st, size_t lo, size_t hi)
{
    const report_cycle *first = &r->by[r->groups[lo].first]->c;
    const report_cycle *last = &r->by[r->groups[hi - 1].first]->c;
    int step;

    sqldb_reset(st);
    if (sqldb_bind_text(st, 1, r->d->clinic) != 0 ||
        sqldb_bind_text(st, 2, first->sterilizer_id) != 0 ||
        sqldb_bind_int64(st, 3, first->cycle_no) != 0 || sqldb_bind_int64(st, 4, last->cycle_no) != 0)
        return -1;
    while ((step = sqldb_step(st)) == 1) {
        group *g = find_group(r, lo, hi, first->sterilizer_id, sqldb_column_int64(st, 0));
        if (g != NULL)
            name_fact(r, g, st);
    }
    return step < 0 ? -1 : 0;
}

static int read_facts(reader *r)
{
    sqldb_stmt *st = NULL;
    int rc = 0;

    if (r->ngroups == 0)
        return 0;
    if (sqldb_prepare(r->db, facts_sql, &st) != 0)
        rc = -1;
    for (size_t lo = 0, hi; rc == 0 && lo < r->ngroups; lo = hi) {
        const char *ster = r->by[r->groups[lo].first]->c.sterilizer_id;
        for (hi = lo + 1; hi < r->ngroups &&
                          strcmp(r->by[r->groups[hi].first]->c.sterilizer_id, ster) == 0;)
            hi++;
        rc = read_facts_of(r, st, lo, hi);
    }
    if (rc != 0)
        db_error(r->db, "rule_cycles query", r->err, r->errlen);
    sqldb_finalize(st);
    return rc;
}

static bool in_period(const report_data *d, const char *ts)
{
    return strcmp(ts, d->from_ts) >= 0 && strcmp(ts, d->until_ts) < 0;
}

/* The record that is the group's cycle when the cycle is in the period,
 * else NULL: the one rule_cycles names, else the earliest. A row naming a
 * record this report did not read (its device has left the clinic) still
 * decides the period, and the earliest record read in it stands in. */
static copy_rec *fact_of(const reader *r, const group *g)
{
    copy_rec *earliest = r->by[g->first];

    if (!g->has_row)
        return in_period(r->d, earliest->c.ts) ? earliest : NULL;
    if (!in_period(r->d, g->row_ts))
        return NULL;
    for (size_t k = 0; k < g->n; k++)
        if (r->by[g->first + k]->named)
            return r->by[g->first + k];
    for (size_t k = 0; k < g->n; k++)
        if (in_period(r->d, r->by[g->first + k]->c.ts))
            return r->by[g->first + k];
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "ac-north, m01": the copies' devices, each once, in byte order. */
static const char *logged_by(report_data *d, const report_copy *copies, size_t n)
{
    const char **ids = malloc(n * sizeof *ids);
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    const char *out = NULL;

    if (ids == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        ids[i] = copies[i].device_id;
    qsort(ids, n, sizeof *ids, cmp_str);
    if ((f = open_memstream(&text, &len)) != NULL) {
        for (size_t i = 0; i < n; i++)
            if (i == 0 || strcmp(ids[i - 1], ids[i]) != 0)
                fprintf(f, "%s%s", i ? ", " : "", ids[i]);
        if (fclose(f) == 0)
            out = strpool_str(&d->arena, text);
    }
    free(text);
    free(ids);
    return out;
}

/* Appends the cycle of fact (in group g) to d->cycles with its copies:
 * the fact first, then the group's records of the same content. */
static int emit(reader *r, const group *g, const copy_rec *fact, size_t *cycles_cap,
                size_t *copies_cap)
{
    report_data *d = r->d;
    report_cycle *c;

    if (growarr_reserve((void **)&d->cycles, cycles_cap, d->ncycles, sizeof *d->cycles) != 0)
        return -1;
    c = &d->cycles[d->ncycles];
    *c = fact->c;
    c->copies = d->ncopies;
    c->ncopies = 0;
    for (size_t k = 0; k <= g->n; k++) {
        const copy_rec *rec = k == 0 ? fact : r->by[g->first + k - 1];
        if (k > 0 && (rec == fact || strcmp(rec->content, fact->content) != 0))
            continue;
        if (growarr_reserve((void **)&d->copies, copies_cap, d->ncopies, sizeof *d->copies) != 0)
            return -1;
        d->copies[d->ncopies++] = (report_copy){rec->c.device_id, rec->c.seq};
        c->ncopies++;
    }
    if ((c->logged_by = logged_by(d, &d->copies[c->copies], c->ncopies)) == NULL)
        return -1;
    d->ncycles++;
    return 0;
}

/* The period's cycles in read order (by ts, device_id, seq of the record
 * that is each one). */
static int emit_all(reader *r)
{
    const group **group_of = calloc(r->n ? r->n : 1, sizeof *group_of);
    size_t cycles_cap = 0, copies_cap = 0;
    int rc = 0;

    if (group_of == NULL)
        return -1;
    for (size_t i = 0; i < r->ngroups; i++) {
        copy_rec *fact = fact_of(r, &r->groups[i]);
        if (fact != NULL)
            group_of[fact->at] = &r->groups[i];
    }
    for (size_t at = 0; rc == 0 && at < r->n; at++)
        if (group_of[at] != NULL)
            rc = emit(r, group_of[at], &r->recs[at], &cycles_cap, &copies_cap);
    free(group_of);
    return rc;
}

int report_cycles_read(sqldb *db, report_data *d, const char *sql, char *err, size_t errlen)
{
    reader r = {.db = db, .d = d, .err = err, .errlen = errlen};
    int rc = -1;

    if (read_records(&r, sql) != 0)
        goto cleanup;
    if (make_groups(&r) != 0) {
        oom(&r);
        goto cleanup;
    }
    if (read_facts(&r) != 0)
        goto cleanup;
    if (emit_all(&r) != 0) {
        oom(&r);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(r.groups);
    free(r.by);
    free(r.recs);
    return rc;
}
