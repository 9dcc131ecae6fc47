#include "report_json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "report_sterilizers.h"

/* cJSON's Add* functions return NULL when memory runs out; every builder
 * here returns false then, and the caller drops the whole object. */

static bool add_str(cJSON *o, const char *key, const char *value)
{
    return cJSON_AddStringToObject(o, key, value ? value : "") != NULL;
}

/* "" as null, for optional values (acked_at, alarm_code, ...). */
static bool add_opt(cJSON *o, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return cJSON_AddNullToObject(o, key) != NULL;
    return add_str(o, key, value);
}

/* A stored UTC time as key (unchanged) and key_local: the same instant in
 * the clinic's zone with its offset ("2026-03-02T16:23:00-08:00"), for
 * people; both null when the time is "". */
static bool add_times(cJSON *o, const char *key, const report_data *d, const char *ts)
{
    char local_key[64], local[REPORT_ISO_LEN + 1];

    snprintf(local_key, sizeof local_key, "%s_local", key);
    if (!ts || !ts[0])
        return cJSON_AddNullToObject(o, key) && cJSON_AddNullToObject(o, local_key);
    report_local_iso(d, ts, local);
    return add_str(o, key, ts) && add_str(o, local_key, local);
}

static bool add_int(cJSON *o, const char *key, int64_t value)
{
    return cJSON_AddNumberToObject(o, key, (double)value) != NULL;
}

/* Tenths as a number with exactly one decimal place (132.1, not
 * 132.09999999999999). */
static bool add_dec1(cJSON *o, const char *key, int64_t tenths)
{
    char text[32];
    report_dec1(tenths, text);
    return cJSON_AddRawToObject(o, key, text) != NULL;
}

/* Stored JSON text (a record body, evidence) as a nested value, or as a
 * string if it does not parse. */
static bool add_json_text(cJSON *o, const char *key, const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : cJSON_CreateNull();

    if (v == NULL)
        v = cJSON_CreateString(text);
    if (v == NULL)
        return false;
    if (!cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

static cJSON *add_array(cJSON *o, const char *key)
{
    return cJSON_AddArrayToObject(o, key);
}

/* A new object appended to array; NULL when out of memory. */
static cJSON *push_object(cJSON *array)
{
    cJSON *o = cJSON_CreateObject();

    if (o && !cJSON_AddItemToArray(array, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool add_counts(cJSON *o, const report_row *row)
{
    for (int c = 0; c < REPORT_NCOLS; c++)
        if (!add_int(o, report_col_name((report_col)c), row->count[c]))
            return false;
    return true;
}

static bool build_summary(cJSON *root, const report_data *d)
{
    cJSON *s = cJSON_AddObjectToObject(root, "summary"), *by_rule;
    char verdict[512];
    bool bad;

    report_verdict(d, verdict, sizeof verdict, &bad);
    if (!s || !add_str(s, "verdict", verdict) ||
        !cJSON_AddBoolToObject(s, "no_records", d->no_records) ||
        !add_int(s, "devices", (int64_t)d->nrows) ||
        !add_int(s, "retired_devices", (int64_t)d->nretired) || !add_counts(s, &d->total) ||
        !add_int(s, "bowie_dick_tests", d->bowie_dick_tests) ||
        !add_int(s, "bowie_dick_failed", d->bowie_dick_failed) ||
        !add_int(s, "violations", d->nviolations_counted) ||
        !add_int(s, "maintenance_notices", d->nnotices) ||
        !add_int(s, "withdrawn", d->nwithdrawn) ||
        !add_int(s, "open_alerts", d->open_alerts) ||
        !(by_rule = add_array(s, "violations_by_rule")))
        return false;
    for (size_t i = 0; i < d->nrules; i++) {
        cJSON *r = push_object(by_rule);
        if (!r || !add_str(r, "rule", d->rules[i].rule) ||
            !add_str(r, "title", report_rule_title(d->rules[i].rule)) ||
            !add_int(r, "count", d->rules[i].count) || !add_int(r, "open", d->rules[i].open))
            return false;
    }
    return true;
}

static bool build_devices(cJSON *root, const report_data *d)
{
    cJSON *a = add_array(root, "devices");

    if (!a)
        return false;
    for (size_t i = 0; i < d->nrows; i++) {
        cJSON *o = push_object(a);
        if (!o || !add_str(o, "device_id", d->rows[i].device_id) ||
            !add_str(o, "kind", d->rows[i].sterilizer ? "sterilizer" : "machine") ||
            !cJSON_AddBoolToObject(o, "retired", d->rows[i].retired) ||
            !add_counts(o, &d->rows[i]))
            return false;
    }
    return true;
}

/* The clinic's sterilizers as equipment, with the period's counts. */
static bool build_sterilizers(cJSON *root, const report_data *d)
{
    cJSON *a = add_array(root, "sterilizers");

    for (size_t i = 0; a && i < d->nsterilizers; i++) {
        const report_sterilizer *s = &d->sterilizers[i];
        cJSON *o = push_object(a);
        if (!o || !add_str(o, "sterilizer_id", s->sterilizer_id) ||
            !cJSON_AddBoolToObject(o, "registered", s->registered) ||
            !add_opt(o, "model", s->model) || !add_opt(o, "serial", s->serial) ||
            !add_opt(o, "device_id", s->device_id) ||
            !add_str(o, "logged_through", !s->registered ? "unknown"
                                          : s->device_id[0] ? "own agent" : "clinic machines") ||
            !add_times(o, "added_at", d, s->added_at) ||
            !add_times(o, "retired_at", d, s->retired_at) ||
            !add_int(o, "cycles_passed", s->cycles_passed) ||
            !add_int(o, "cycles_failed", s->cycles_failed) ||
            !add_int(o, "spore_tests", s->spore_tests))
            return false;
    }
    return a != NULL;
}

static bool add_day(cJSON *o, const report_day *day)
{
    return add_str(o, "date", day->date) && add_str(o, "starts_at", day->start_ts) &&
           add_int(o, "sessions", day->sessions) &&
           add_int(o, "strokes", day->strokes) && add_int(o, "cycles_passed", day->cycles_passed) &&
           add_int(o, "cycles_failed", day->cycles_failed);
}

static bool add_test(cJSON *o, const report_data *d, const report_test *t)
{
    return add_str(o, "device_id", t->device_id) && add_int(o, "seq", t->seq) &&
           add_times(o, "ts", d, t->ts) && add_str(o, "sterilizer_id", t->sterilizer_id) &&
           add_str(o, "kind", t->kind) && add_int(o, "cycle_no", t->cycle_no) &&
           add_str(o, "bi_lot", t->bi_lot) && add_str(o, "result", t->result) &&
           add_times(o, "read_ts", d, t->read_ts);
}

/* The test of a cycle as a nested object, or null. */
static bool add_cycle_test(cJSON *o, const char *key, const report_data *d, long idx)
{
    cJSON *t;

    if (idx < 0)
        return cJSON_AddNullToObject(o, key) != NULL;
    return (t = cJSON_AddObjectToObject(o, key)) != NULL && add_test(t, d, &d->tests[idx]);
}

/* Every record that logged the cycle with its content, its own first. */
static bool add_logged_by(cJSON *o, const report_data *d, const report_cycle *c)
{
    cJSON *a = add_array(o, "logged_by");

    for (size_t i = 0; a && i < c->ncopies; i++) {
        const report_copy *copy = &d->copies[c->copies + i];
        cJSON *r = push_object(a);
        if (!r || !add_str(r, "device_id", copy->device_id) || !add_int(r, "seq", copy->seq))
            return false;
    }
    return a != NULL;
}

static bool add_cycle(cJSON *o, const report_data *d, const report_cycle *c)
{
    return add_str(o, "device_id", c->device_id) && add_int(o, "seq", c->seq) &&
           add_logged_by(o, d, c) &&
           add_times(o, "ts", d, c->ts) && add_str(o, "sterilizer_id", c->sterilizer_id) &&
           add_int(o, "cycle_no", c->cycle_no) && add_str(o, "load_id", c->load_id) &&
           add_str(o, "program", c->program) && add_dec1(o, "setpoint_c", c->setpoint_dc) &&
           add_dec1(o, "temp_min_c", c->temp_min_dc) && add_dec1(o, "temp_max_c", c->temp_max_dc) &&
           add_int(o, "exposure_s", c->exposure_s) &&
           add_dec1(o, "pressure_min_kpa", c->pressure_min_dkpa) &&
           add_dec1(o, "pressure_max_kpa", c->pressure_max_dkpa) && add_int(o, "dry_s", c->dry_s) &&
           add_str(o, "ci_result", c->ci_result) && add_str(o, "operator_id", c->operator_id) &&
           add_str(o, "result", c->result) && add_opt(o, "alarm_code", c->alarm_code) &&
           add_str(o, "verdict", c->failed ? "failed" : "passed") &&
           cJSON_AddBoolToObject(o, "r4_failed", c->r4_failed) &&
           add_opt(o, "r4_reasons", c->r4_reasons) &&
           add_cycle_test(o, "bowie_dick", d, c->bowie_dick) &&
           add_cycle_test(o, "spore", d, c->spore);
}

static bool add_cited(cJSON *a, const report_cited *c)
{
    cJSON *o = push_object(a);

    return o && add_str(o, "device_id", c->device_id) && add_int(o, "seq", c->seq) &&
           cJSON_AddBoolToObject(o, "stored", c->body != NULL) && add_opt(o, "ts", c->ts) &&
           add_opt(o, "type", c->type) && add_json_text(o, "body", c->body);
}

/* Evidence and the cited records are shown as stored (UTC). */
static bool add_violation(cJSON *o, const report_data *d, const report_violation *v)
{
    cJSON *records;

    if (!add_int(o, "id", v->id) || !add_str(o, "rule", v->rule) ||
        !add_str(o, "title", report_rule_title(v->rule)) || !add_str(o, "severity", v->severity) ||
        !add_str(o, "device_id", v->device_id) ||
        !add_str(o, "filed_under", report_filed_name(v->filed_under)) ||
        !add_str(o, "cause", v->cause) ||
        !add_str(o, "message", v->message) || !add_times(o, "raised_at", d, v->raised_at) ||
        !add_times(o, "acked_at", d, v->acked_at) || !add_opt(o, "acked_by", v->acked_by) ||
        !add_times(o, "cleared_at", d, v->cleared_at) ||
        !add_str(o, "status", strcmp(v->state, "withdrawn") == 0 ? "withdrawn" :
                              v->cleared_at[0] ? "cleared" : v->acked_at[0] ? "acknowledged" : "open") ||
        !cJSON_AddBoolToObject(o, "maintenance_notice", v->notice) ||
        !add_json_text(o, "evidence", v->evidence) ||
        !add_int(o, "evidence_records", (int64_t)v->nevidence) ||
        !(records = add_array(o, "records")))
        return false;
    for (size_t i = 0; i < v->ncited; i++)
        if (!add_cited(records, &v->cited[i]))
            return false;
    return true;
}

/* The long lists, in output order: one object per element, so that
 * report_json_write can print them one element at a time. */
typedef struct report_list {
    const char *key;
    size_t (*count)(const report_data *d);
    bool (*fill)(cJSON *o, const report_data *d, size_t i);
} report_list;

static size_t n_days(const report_data *d) { return d->ndays; }
static size_t n_violations(const report_data *d) { return d->nviolations; }
static size_t n_cycles(const report_data *d) { return d->ncycles; }
static size_t n_tests(const report_data *d) { return d->ntests; }

static bool fill_day(cJSON *o, const report_data *d, size_t i) { return add_day(o, &d->days[i]); }
static bool fill_violation(cJSON *o, const report_data *d, size_t i)
{
    return add_violation(o, d, &d->violations[i]);
}
static bool fill_cycle(cJSON *o, const report_data *d, size_t i)
{
    return add_cycle(o, d, &d->cycles[i]);
}
static bool fill_test(cJSON *o, const report_data *d, size_t i)
{
    return add_test(o, d, &d->tests[i]);
}

static const report_list lists[] = {
    {"days", n_days, fill_day},
    {"violations", n_violations, fill_violation},
    {"sterilizer_log", n_cycles, fill_cycle},
    {"tests", n_tests, fill_test},
};

/* Everything but the long lists. The period's days are the clinic's
 * local days (period.timezone); from_utc / until_utc are its bounds. */
static cJSON *build_head(const report_data *d)
{
    cJSON *root = cJSON_CreateObject(), *period, *total;

    if (!root || !add_str(root, "report", "smpfleet-compliance") ||
        !add_int(root, "version", 1) || !add_str(root, "clinic", d->clinic) ||
        !add_str(root, "clinic_name", d->clinic_name) ||
        !add_opt(root, "clinic_address", d->clinic_address) ||
        !add_opt(root, "clinic_licence", d->clinic_licence) ||
        !cJSON_AddBoolToObject(root, "clinic_registered", d->clinic_registered) ||
        !(period = cJSON_AddObjectToObject(root, "period")) || !add_str(period, "from", d->from) ||
        !add_str(period, "to", d->to) || !add_str(period, "timezone", tzlocal_name(d->zone)) ||
        !add_str(period, "from_utc", d->from_ts) || !add_str(period, "until_utc", d->until_ts) ||
        !add_times(root, "generated_at", d, d->generated_at) || !build_summary(root, d) ||
        !build_devices(root, d) || !build_sterilizers(root, d) || !(total = cJSON_AddObjectToObject(root, "total")) ||
        !add_counts(total, &d->total)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static cJSON *element(const report_list *l, const report_data *d, size_t i)
{
    cJSON *o = cJSON_CreateObject();

    if (o && !l->fill(o, d, i)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *report_json_build(const report_data *d)
{
    cJSON *root = build_head(d);

    for (size_t k = 0; root && k < sizeof lists / sizeof lists[0]; k++) {
        cJSON *a = cJSON_AddArrayToObject(root, lists[k].key);
        for (size_t i = 0; a && i < lists[k].count(d); i++) {
            cJSON *o = element(&lists[k], d, i);
            if (!o || !cJSON_AddItemToArray(a, o)) {
                cJSON_Delete(o);
                a = NULL;
            }
        }
        if (a == NULL) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    return root;
}

/* Prints item unformatted; false when out of memory. */
static bool print_item(FILE *out, const cJSON *item, size_t skip_end)
{
    char *text = cJSON_PrintUnformatted(item);

    if (text == NULL)
        return false;
    fwrite(text, 1, strlen(text) - skip_end, out);
    cJSON_free(text);
    return true;
}

/* The same JSON as printing report_json_build, but the long lists go out
 * one element at a time: a clinic-year's sterilizer log never sits in
 * memory as one tree and one string. */
int report_json_write(FILE *out, const report_data *d)
{
    cJSON *head = build_head(d);
    bool ok = head && print_item(out, head, 1);   /* all but its closing brace */

    cJSON_Delete(head);
    for (size_t k = 0; ok && k < sizeof lists / sizeof lists[0]; k++) {
        fprintf(out, ",\"%s\":[", lists[k].key);
        for (size_t i = 0; ok && i < lists[k].count(d); i++) {
            cJSON *o = element(&lists[k], d, i);
            if (i > 0)
                fputc(',', out);
            ok = o && print_item(out, o, 0);
            cJSON_Delete(o);
        }
        fputc(']', out);
    }
    if (!ok) {
        errno = ENOMEM;
        return -1;
    }
    fputs("}\n", out);
    /* Flush so a full disk shows up here, not as a silently short file. */
    return fflush(out) != 0 || ferror(out) ? -1 : 0;
}
