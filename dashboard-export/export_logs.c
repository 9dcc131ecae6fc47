#include "export_logs.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "csvcell.h"
#include "db.h"
#include "growarr.h"
#include "record.h"
#include "report_sterilizers.h"
#include "strpool.h"
#include "tzlocal.h"

/* How far back a cartridge.remove / session.end looks for its insert /
 * start among the same device's rows: a session holds a few dozen. */
#define MATCH_WINDOW 256

static int finish(FILE *out)
{
    /* Flush so a full disk shows up here, not as a silently short file. */
    return fflush(out) != 0 || ferror(out) ? -1 : 0;
}

/* Every cell goes through csvcell.h: text is quoted and neutralised there,
 * numbers are ours. */
static void field(FILE *out, const char *text)
{
    csv_sep(out);
    csv_text(out, text);
}

static void num(FILE *out, int64_t v)
{
    csv_sep(out);
    csv_int(out, v);
}

static void dec1(FILE *out, int64_t tenths)
{
    csv_sep(out);
    csv_dec1(out, tenths);
}

/* A stored UTC time in the clinic's zone, named: "2026-01-04 23:12 PST"
 * ("" stays ""). */
static void local(FILE *out, const report_data *d, const char *ts)
{
    char text[REPORT_LOCAL_LEN + 1];

    report_local_text(d, ts, text);
    field(out, text);
}

/* ts "2026-01-05T07:12:33.000Z" as the date and time columns the record
 * holds (UTC), then the same instant in the clinic's zone. */
static void date_time(FILE *out, const report_data *d, const char *ts)
{
    char date[11], time[9];
    snprintf(date, sizeof date, "%.10s", ts);
    snprintf(time, sizeof time, "%.8s", strlen(ts) >= 19 ? ts + 11 : "");
    field(out, date);
    field(out, time);
    local(out, d, ts);
}

static void header(FILE *out, const char *cols)
{
    fputs(cols, out);
    csv_end_row(out);
}

/* ---- from report_data --------------------------------------------------- */

static void test_columns(FILE *out, const report_data *d, long idx, bool with_read)
{
    const report_test *t = idx >= 0 ? &d->tests[idx] : NULL;

    field(out, t ? t->result : "");
    field(out, t ? t->bi_lot : "");
    if (with_read)
        field(out, t ? t->read_ts : "");
}

/* Every record that logged the cycle with its content, "device:seq;...",
 * the cycle's own first (report_cycles.h). */
static void logged_by(FILE *out, const report_data *d, const report_cycle *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    for (size_t i = 0; f && i < c->ncopies; i++)
        fprintf(f, "%s%s:%" PRId64, i ? ";" : "", d->copies[c->copies + i].device_id,
                d->copies[c->copies + i].seq);
    if (f)
        fclose(f);
    field(out, text ? text : "");
    free(text);
}

int export_sterilizer_csv(FILE *out, const report_data *d)
{
    header(out, "clinic,device_id,sterilizer_id,cycle_no,date,time_utc,time_local,load_id,program,"
                "setpoint_c,temp_min_c,temp_max_c,exposure_s,pressure_min_kpa,pressure_max_kpa,"
                "dry_s,ci_result,operator_id,result,alarm_code,bowie_dick_result,bowie_dick_lot,"
                "spore_result,spore_bi_lot,spore_read_ts,record_seq,logged_by");
    for (size_t i = 0; i < d->ncycles; i++) {
        const report_cycle *c = &d->cycles[i];
        csv_text(out, d->clinic);
        field(out, c->device_id);
        field(out, c->sterilizer_id);
        num(out, c->cycle_no);
        date_time(out, d, c->ts);
        field(out, c->load_id);
        field(out, c->program);
        dec1(out, c->setpoint_dc);
        dec1(out, c->temp_min_dc);
        dec1(out, c->temp_max_dc);
        num(out, c->exposure_s);
        dec1(out, c->pressure_min_dkpa);
        dec1(out, c->pressure_max_dkpa);
        num(out, c->dry_s);
        field(out, c->ci_result);
        field(out, c->operator_id);
        field(out, c->result);
        field(out, c->alarm_code);
        test_columns(out, d, c->bowie_dick, false);
        test_columns(out, d, c->spore, true);
        num(out, c->seq);
        logged_by(out, d, c);
        csv_end_row(out);
    }
    return finish(out);
}

int export_tests_csv(FILE *out, const report_data *d)
{
    header(out, "clinic,device_id,date,time_utc,time_local,sterilizer_id,cycle_no,kind,bi_lot,"
                "result,read_ts,record_seq");
    for (size_t i = 0; i < d->ntests; i++) {
        const report_test *t = &d->tests[i];
        csv_text(out, d->clinic);
        field(out, t->device_id);
        date_time(out, d, t->ts);
        field(out, t->sterilizer_id);
        num(out, t->cycle_no);
        field(out, t->kind);
        field(out, t->bi_lot);
        field(out, t->result);
        field(out, t->read_ts);
        num(out, t->seq);
        csv_end_row(out);
    }
    return finish(out);
}

/* "dev:seq;dev:seq" and the stored bodies, one a line, as two fields. */
static void cited_columns(FILE *out, const report_violation *v)
{
    char *refs = NULL, *bodies = NULL;
    size_t rlen = 0, blen = 0;
    FILE *r = open_memstream(&refs, &rlen), *b = open_memstream(&bodies, &blen);

    bool first_body = true;

    for (size_t i = 0; r && b && i < v->ncited; i++) {
        fprintf(r, "%s%s:%" PRId64, i ? ";" : "", v->cited[i].device_id, v->cited[i].seq);
        if (v->cited[i].body) {
            fprintf(b, "%s%s", first_body ? "" : "\n", v->cited[i].body);
            first_body = false;
        }
    }
    if (r)
        fclose(r);
    if (b)
        fclose(b);
    field(out, refs);
    field(out, bodies);
    free(refs);
    free(bodies);
}

int export_violations_csv(FILE *out, const report_data *d)
{
    /* kind: a maintenance notice (R3, R8, R11) is no violation; status
     * withdrawn: disproved by later evidence, no violation either. Both are
     * listed so the inspector sees everything the rules said. */
    header(out, "alert_id,rule,rule_title,kind,severity,device_id,filed_under,cause,message,"
                "raised_at,acked_at,acked_by,cleared_at,status,cited_records,cited_record_bodies,"
                "evidence");
    for (size_t i = 0; i < d->nviolations; i++) {
        const report_violation *v = &d->violations[i];
        csv_int(out, v->id);
        field(out, v->rule);
        field(out, report_rule_title(v->rule));
        field(out, v->notice ? "maintenance notice" : "violation");
        field(out, v->severity);
        field(out, v->device_id);
        field(out, report_filed_name(v->filed_under));
        field(out, v->cause);
        field(out, v->message);
        field(out, v->raised_at);
        field(out, v->acked_at);
        field(out, v->acked_by);
        field(out, v->cleared_at);
        field(out, v->state && strcmp(v->state, "withdrawn") == 0 ? "withdrawn"
                   : v->cleared_at[0]                ? "cleared"
                   : v->acked_at[0]                  ? "acknowledged"
                                                     : "open");
        cited_columns(out, v);
        field(out, v->evidence);
        csv_end_row(out);
    }
    return finish(out);
}

/* ---- procedures and cartridges, from the store --------------------------- */

/* The records a procedure is made of, in chain order per device
 * ((device_id, seq) is unique: the same order on either store), through
 * the covering index (report_compliance_sql). ?2 is the period's first
 * instant (the clinic's local midnight), ?3 one day past its end: a
 * session started on its last evening ends after midnight. */
#define LOOKAHEAD_MS (24 * 3600 * 1000LL)
#define PROCEDURE_COLUMNS "r.device_id, r.seq, r.ts, r.type, r.body"
#define PROCEDURE_TYPES                                                                \
    "('session.start', 'session.end', 'cartridge.insert', 'cartridge.remove',"       \
    " 'grip.assign')"
#define PROCEDURE_ORDER " ORDER BY r.device_id, r.seq"

typedef struct proc {
    const char *device_id, *session_id, *start, *end, *operator_id, *client_ref;
    int64_t seq, treatment_no, run_s, strokes, ncarts;
    char *carts, *grips;            /* "; "-joined, malloc'ed */
    size_t carts_len, grips_len;
} proc;

typedef struct cart {
    const char *device_id, *session_id, *uid, *sku, *config, *lot, *expiry, *inserted, *removed,
        *reason;
    int64_t needles, run_s, strokes, insert_seq, remove_seq;
} cart;

typedef struct proc_log {
    const report_data *d;
    const char *upper;                     /* end of the period: d->until_ts */
    strpool *pool;
    proc *procs;
    size_t nprocs, procs_cap, dev_procs;   /* dev_procs: first of the current device */
    cart *carts;
    size_t ncarts, carts_cap, dev_carts;
    const char *device;                    /* of the rows being read */
} proc_log;

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int64_t jint(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *keep(proc_log *p, const char *s)
{
    return strpool_str(&p->pool, s);
}

/* Appends "; text" (or text) to a malloc'ed list. */
static int list_add(char **list, size_t *len, const char *text)
{
    size_t add = strlen(text) + (*len ? 2 : 0);
    char *q = realloc(*list, *len + add + 1);

    if (q == NULL)
        return -1;
    snprintf(q + *len, add + 1, "%s%s", *len ? "; " : "", text);
    *list = q;
    *len += add;
    return 0;
}

/* The session of the current device, most recent first. */
static proc *find_proc(proc_log *p, const char *session_id)
{
    for (size_t i = p->nprocs; i > p->dev_procs && p->nprocs - i < MATCH_WINDOW; i--)
        if (strcmp(p->procs[i - 1].session_id, session_id) == 0)
            return &p->procs[i - 1];
    return NULL;
}

static int on_start(proc_log *p, const cJSON *b, int64_t seq, const char *ts)
{
    proc *s;

    if (strcmp(ts, p->upper) >= 0)
        return 0;   /* started after the period: only read for the ends */
    if (growarr_reserve((void **)&p->procs, &p->procs_cap, p->nprocs, sizeof *p->procs) != 0)
        return -1;
    s = &p->procs[p->nprocs];
    memset(s, 0, sizeof *s);
    s->seq = seq;
    s->treatment_no = jint(b, "treatment_no");
    if (!(s->device_id = keep(p, p->device)) || !(s->session_id = keep(p, jstr(b, "session_id"))) ||
        !(s->start = keep(p, ts)) || !(s->end = keep(p, "")) ||
        !(s->operator_id = keep(p, jstr(b, "operator_id"))) ||
        !(s->client_ref = keep(p, jstr(b, "client_ref"))))
        return -1;
    p->nprocs++;
    return 0;
}

static int on_end(proc_log *p, const cJSON *b, const char *ts)
{
    proc *s = find_proc(p, jstr(b, "session_id"));

    if (s == NULL || s->end[0])
        return 0;
    s->run_s = jint(b, "run_s");
    s->strokes = jint(b, "strokes");
    return (s->end = keep(p, ts)) ? 0 : -1;
}

static int on_insert(proc_log *p, const cJSON *b, int64_t seq, const char *ts)
{
    proc *s = find_proc(p, jstr(b, "session_id"));
    char line[4 * 130 + 48];
    cart *c;

    if (s == NULL && strcmp(ts, p->upper) >= 0)
        return 0;   /* after the period, in a session that is not in it */
    if (s) {
        const cJSON *lot = cJSON_GetObjectItemCaseSensitive(b, "lot");
        snprintf(line, sizeof line, "%s %s lot %s exp %s", jstr(b, "cartridge_uid"),
                 jstr(b, "sku"), cJSON_IsString(lot) ? lot->valuestring : "(none)",
                 jstr(b, "expiry"));
        s->ncarts++;
        if (list_add(&s->carts, &s->carts_len, line) != 0)
            return -1;
    }
    if (growarr_reserve((void **)&p->carts, &p->carts_cap, p->ncarts, sizeof *p->carts) != 0)
        return -1;
    c = &p->carts[p->ncarts];
    memset(c, 0, sizeof *c);
    c->insert_seq = seq;
    c->needles = jint(b, "needles");
    if (!(c->device_id = keep(p, p->device)) || !(c->session_id = keep(p, jstr(b, "session_id"))) ||
        !(c->uid = keep(p, jstr(b, "cartridge_uid"))) || !(c->sku = keep(p, jstr(b, "sku"))) ||
        !(c->config = keep(p, jstr(b, "config"))) || !(c->lot = keep(p, jstr(b, "lot"))) ||
        !(c->expiry = keep(p, jstr(b, "expiry"))) || !(c->inserted = keep(p, ts)) ||
        !(c->removed = keep(p, "")) || !(c->reason = keep(p, "")))
        return -1;
    p->ncarts++;
    return 0;
}

/* A removal closes the latest open insert of that cartridge and session. */
static int on_remove(proc_log *p, const cJSON *b, int64_t seq, const char *ts)
{
    const char *uid = jstr(b, "cartridge_uid"), *session = jstr(b, "session_id");

    for (size_t i = p->ncarts; i > p->dev_carts && p->ncarts - i < MATCH_WINDOW; i--) {
        cart *c = &p->carts[i - 1];
        if (c->remove_seq || strcmp(c->uid, uid) != 0 || strcmp(c->session_id, session) != 0)
            continue;
        c->remove_seq = seq;
        c->run_s = jint(b, "run_s");
        c->strokes = jint(b, "strokes");
        return (c->removed = keep(p, ts)) && (c->reason = keep(p, jstr(b, "reason"))) ? 0 : -1;
    }
    return 0;
}

static int on_grip(proc_log *p, const cJSON *b)
{
    proc *s = find_proc(p, jstr(b, "session_id"));
    char line[2 * 130 + 16];

    if (s == NULL)
        return 0;
    snprintf(line, sizeof line, "%s from load %s", jstr(b, "grip_id"), jstr(b, "load_id"));
    return list_add(&s->grips, &s->grips_len, line);
}

static int on_record(proc_log *p, sqldb_stmt *st)
{
    const char *device = sqldb_column_text(st, 0);
    const char *ts = sqldb_column_text(st, 2);
    const char *type = sqldb_column_text(st, 3);
    int64_t seq = sqldb_column_int64(st, 1);
    cJSON *b = cJSON_Parse(sqldb_column_text(st, 4));
    int rc = 0;

    if (!device || !ts || !type || !b) {
        cJSON_Delete(b);
        return 0;   /* the store only holds valid canonical records */
    }
    if (p->device == NULL || strcmp(p->device, device) != 0) {
        if ((p->device = keep(p, device)) == NULL)
            rc = -1;
        p->dev_procs = p->nprocs;
        p->dev_carts = p->ncarts;
    }
    if (rc == 0 && strcmp(type, "session.start") == 0)
        rc = on_start(p, b, seq, ts);
    else if (rc == 0 && strcmp(type, "session.end") == 0)
        rc = on_end(p, b, ts);
    else if (rc == 0 && strcmp(type, "cartridge.insert") == 0)
        rc = on_insert(p, b, seq, ts);
    else if (rc == 0 && strcmp(type, "cartridge.remove") == 0)
        rc = on_remove(p, b, seq, ts);
    else if (rc == 0 && strcmp(type, "grip.assign") == 0)
        rc = on_grip(p, b);
    cJSON_Delete(b);
    return rc;
}

static int cmp_proc(const void *a, const void *b)
{
    const proc *x = a, *y = b;
    int c = strcmp(x->start, y->start);
    if (c == 0)
        c = strcmp(x->device_id, y->device_id);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_cart(const void *a, const void *b)
{
    const cart *x = a, *y = b;
    int c = strcmp(x->inserted, y->inserted);
    if (c == 0)
        c = strcmp(x->device_id, y->device_id);
    return c ? c : (x->insert_seq > y->insert_seq) - (x->insert_seq < y->insert_seq);
}

static int write_procs(FILE *out, proc_log *p)
{
    if (p->nprocs > 1)   /* qsort wants an array, and a period may have no session */
        qsort(p->procs, p->nprocs, sizeof *p->procs, cmp_proc);
    header(out, "session_id,device_id,start_ts,start_local,end_ts,end_local,operator_id,client_ref,"
                "treatment_no,run_s,strokes,cartridges,cartridge_details,grips,start_seq");
    for (size_t i = 0; i < p->nprocs; i++) {
        const proc *s = &p->procs[i];
        csv_text(out, s->session_id);
        field(out, s->device_id);
        field(out, s->start);
        local(out, p->d, s->start);
        field(out, s->end);
        local(out, p->d, s->end);
        field(out, s->operator_id);
        field(out, s->client_ref);
        num(out, s->treatment_no);
        num(out, s->run_s);
        num(out, s->strokes);
        num(out, s->ncarts);
        field(out, s->carts);
        field(out, s->grips);
        num(out, s->seq);
        csv_end_row(out);
    }
    return finish(out);
}

/* Whether the cartridge was past its printed expiry when inserted: the
 * expiry date against the clinic's local date of the insert, as rule R2
 * judges it (docs/rules.md). */
static bool expired_at_insert(const report_data *d, const cart *c)
{
    char date[REPORT_DATE_LEN + 1];
    int64_t ms;

    if (record_ts_parse(c->inserted, &ms) != 0)
        snprintf(date, sizeof date, "%.10s", c->inserted);
    else
        tzlocal_date(d->zone, ms / 1000 - (ms % 1000 < 0), date);
    /* Same fixed-width form, so text order is date order. */
    return strncmp(c->expiry, date, REPORT_DATE_LEN) < 0;
}

static int write_carts(FILE *out, proc_log *p)
{
    if (p->ncarts > 1)
        qsort(p->carts, p->ncarts, sizeof *p->carts, cmp_cart);
    header(out, "inserted_ts,inserted_local,device_id,session_id,cartridge_uid,sku,needles,config,"
                "lot,expiry,expired_at_insert,removed_ts,removed_local,run_s,strokes,remove_reason,"
                "insert_seq,remove_seq");
    for (size_t i = 0; i < p->ncarts; i++) {
        const cart *c = &p->carts[i];
        csv_text(out, c->inserted);
        local(out, p->d, c->inserted);
        field(out, c->device_id);
        field(out, c->session_id);
        field(out, c->uid);
        field(out, c->sku);
        num(out, c->needles);
        field(out, c->config);
        field(out, c->lot);
        field(out, c->expiry);
        field(out, expired_at_insert(p->d, c) ? "yes" : "no");
        field(out, c->removed);
        local(out, p->d, c->removed);
        num(out, c->run_s);
        num(out, c->strokes);
        field(out, c->reason);
        num(out, c->insert_seq);
        if (c->remove_seq)
            num(out, c->remove_seq);
        else
            field(out, "");
        csv_end_row(out);
    }
    return finish(out);
}

static int read_procedures(sqldb *db, proc_log *p, char *err, size_t errlen)
{
    char bound[REPORT_TS_LEN + 1], sql[1024];
    sqldb_stmt *st = NULL;
    int rc = -1, step;

    report_ts_add(p->d->until_ts, LOOKAHEAD_MS, bound);
    if (report_compliance_sql(db, PROCEDURE_COLUMNS, PROCEDURE_TYPES, PROCEDURE_ORDER, sql,
                              sizeof sql) != 0) {
        snprintf(err, errlen, "export: the procedure log query does not fit its buffer");
        return -1;
    }
    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, p->d->clinic) != 0 ||
        sqldb_bind_text(st, 2, p->d->from_ts) != 0 || sqldb_bind_text(st, 3, bound) != 0)
        goto db_error;
    while ((step = sqldb_step(st)) == 1) {
        if (on_record(p, st) != 0) {
            snprintf(err, errlen, "export: out of memory reading the procedure log");
            goto cleanup;
        }
    }
    if (step < 0)
        goto db_error;
    rc = 0;
    goto cleanup;
db_error:
    db_error(db, "procedure log query", err, errlen);
cleanup:
    sqldb_finalize(st);
    return rc;
}

int export_procedures(sqldb *db, const report_data *d, FILE *procedures, FILE *cartridges,
                      char *err, size_t errlen)
{
    proc_log p = {.d = d, .upper = d->until_ts};
    int rc = -1;

    if (read_procedures(db, &p, err, errlen) != 0)
        goto cleanup;
    if (write_procs(procedures, &p) != 0 || write_carts(cartridges, &p) != 0) {
        snprintf(err, errlen, "export: writing the procedure or cartridge log failed");
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (size_t i = 0; i < p.nprocs; i++) {
        free(p.procs[i].carts);
        free(p.procs[i].grips);
    }
    free(p.procs);
    free(p.carts);
    strpool_free(&p.pool);
    return rc;
}
