/* test_notify: notification sinks — filter parsing and matching
 * (common/notify_filter.c), the webhook signature (notify_hmac.c, RFC 4231
 * vectors), the per-sink retry schedule on an injected clock
 * (collector/notify_retry.c), and the outbox's state machine on a real
 * store, SQLite or PostgreSQL (store_outbox_sql.c, testdb.h: queue in the
 * alert's transaction, routed per sink, oldest first, delivered/failed,
 * reminders by time, one sender per sink among several collectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "alerting.h"
#include "notify_filter.h"
#include "notify_hmac.h"
#include "notify_retry.h"
#include "notify_sink.h"
#include "store.h"
#include "store_outbox.h"
#include "testdb.h"

/* ---- filters ------------------------------------------------------------------------------ */

static void filter_empty_and_all_select_everything(void **state)
{
    (void)state;
    notify_filter f;
    char err[400];
    assert_int_equal(notify_filter_parse("", &f, err, sizeof err), 0);
    assert_true(notify_filter_match(&f, "c", "R8", "maintenance", "cleared"));
    assert_int_equal(notify_filter_parse("  all ", &f, err, sizeof err), 0);
    assert_true(notify_filter_match(&f, "c", "R1", "critical", "raised"));
}

static void filter_terms_all_hold(void **state)
{
    (void)state;
    notify_filter f;
    char err[400];
    assert_int_equal(notify_filter_parse("clinic=north,south rule=R1,R11 min_severity=cycle-failed "
                                         "event=raised,reminder", &f, err, sizeof err), 0);
    assert_true(notify_filter_match(&f, "north", "R1", "critical", "raised"));
    assert_true(notify_filter_match(&f, "south", "R11", "integrity", "reminder"));
    assert_false(notify_filter_match(&f, "east", "R1", "critical", "raised"));
    assert_false(notify_filter_match(&f, "north", "R2", "critical", "raised"));
    assert_false(notify_filter_match(&f, "north", "R1", "warning", "raised"));
    assert_false(notify_filter_match(&f, "north", "R1", "critical", "cleared"));
    /* A test message goes wherever it is sent. */
    assert_true(notify_filter_match(&f, "north", "R1", "critical", "test"));
}

static void filter_severity_order(void **state)
{
    (void)state;
    notify_filter f;
    char err[400];
    assert_true(notify_severity_rank("integrity") == notify_severity_rank("critical"));
    assert_true(notify_severity_rank("critical") > notify_severity_rank("cycle-failed"));
    assert_true(notify_severity_rank("cycle-failed") > notify_severity_rank("warning"));
    assert_true(notify_severity_rank("warning") > notify_severity_rank("maintenance"));
    /* Unknown severities are never filtered out. */
    assert_int_equal(notify_severity_rank("new-kind"), notify_severity_rank("critical"));
    assert_int_equal(notify_filter_parse("min_severity=warning", &f, err, sizeof err), 0);
    assert_true(notify_filter_match(&f, "c", "R9", "integrity", "raised"));
    assert_true(notify_filter_match(&f, "c", "R4", "cycle-failed", "raised"));
    assert_true(notify_filter_match(&f, "c", "R2", "warning", "raised"));
    assert_false(notify_filter_match(&f, "c", "R3", "maintenance", "raised"));
}

static void filter_errors_name_the_term(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"rule=R12", "rule: 'R12' is not a rule"},
        {"rule=R0", "is not a rule"},
        {"rule=r1", "is not a rule"},
        {"min_severity=high", "min_severity: 'high'"},
        {"min_severity=warning,critical", "is not one severity"},
        {"event=opened", "event: 'opened'"},
        {"event=test", "is not an event"},
        {"color=red", "unknown term 'color'"},
        {"rule=R1 rule=R2", "repeated term 'rule'"},
        {"rule", "not a term"},
        {"rule=", "empty value"},
        {"rule=R1,,R2", "empty value"},
        {"rule=R1,", "empty value"},
        {"all rule=R1", "'all' stands alone"},
        {"rule=R1 all", "'all' stands alone"},
    };
    notify_filter f;
    char err[400];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(notify_filter_parse(bad[i].text, &f, err, sizeof err), -1);
        if (!strstr(err, bad[i].want))
            fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].want);
    }
}

/* ---- HMAC --------------------------------------------------------------------------------- */

static void hmac_rfc4231(void **state)
{
    (void)state;
    char hex[NOTIFY_HMAC_HEX];
    unsigned char key1[20];
    memset(key1, 0x0b, sizeof key1);
    /* RFC 4231 test case 1 and 2. */
    assert_int_equal(notify_hmac_sha256_hex(key1, sizeof key1, "Hi There", 8, hex), 0);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal(notify_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* ---- retry schedule ----------------------------------------------------------------------- */

static void retry_doubles_to_the_cap_and_resets(void **state)
{
    (void)state;
    notify_retry r;
    int64_t t = 1000000;
    notify_retry_init(&r, NOTIFY_RETRY_FIRST_MS, NOTIFY_RETRY_MAX_MS);
    assert_true(notify_retry_due(&r, t));
    int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        notify_retry_failed(&r, t);
        assert_int_equal(notify_retry_wait_ms(&r, t), want[i]);
        assert_false(notify_retry_due(&r, t + want[i] - 1));
        assert_true(notify_retry_due(&r, t + want[i]));
        t += want[i];
    }
    assert_int_equal(r.failures, 11);
    notify_retry_ok(&r);
    assert_true(notify_retry_due(&r, t));
    notify_retry_failed(&r, t);
    assert_int_equal(notify_retry_wait_ms(&r, t), 1000);
}

/* ---- outbox ------------------------------------------------------------------------------- */

typedef struct fixture {
    char db[TESTDB_TARGET_MAX];
    store *s;
    notify_sinks sinks;
} fixture;

static unsigned route(void *ctx, const alert *a, const char *event)
{
    return notify_sinks_route(ctx, a->clinic, a->rule, a->severity, event);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[600];
    static const char *const names[STORE_OUTBOX_SINKS] = {"webhook", "smtp", "command"};

    assert_non_null(f);
    testdb_new(f->db, sizeof f->db);
    assert_int_equal(store_open(f->db, &f->s, err, sizeof err), 0);
    for (int k = 0; k < NOTIFY_NSINKS; k++)
        f->sinks.sink[k].kind = (notify_kind)k;
    f->sinks.sink[NOTIFY_WEBHOOK].enabled = true;   /* every event */
    f->sinks.sink[NOTIFY_SMTP].enabled = true;
    assert_int_equal(notify_filter_parse("min_severity=critical event=raised,escalated,reminder",
                                         &f->sinks.sink[NOTIFY_SMTP].filter, err, sizeof err), 0);
    store_outbox_set_route(f->s, route, &f->sinks, names);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    testdb_drop(f->db);
    free(f);
    return 0;
}

static void make_alert(alert *a, const char *rule, const char *severity, const char *cause)
{
    memset(a, 0, sizeof *a);
    snprintf(a->rule, sizeof a->rule, "%s", rule);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->device, sizeof a->device, "dev-1");
    snprintf(a->clinic, sizeof a->clinic, "clinic \"north\"");
    snprintf(a->cause, sizeof a->cause, "%s", cause);
    snprintf(a->message, sizeof a->message, "message with \"quotes\" and \n newline");
    snprintf(a->evidence, sizeof a->evidence, "{\"seq\":4}");
}

static int next(fixture *f, const char *sink, store_outbox_item *it)
{
    int rc = store_outbox_next(f->s, sink, it);
    assert_true(rc >= 0);
    return rc;
}

static void outbox_state_machine(void **state)
{
    fixture *f = *state;
    alert_batch *batch = calloc(1, sizeof *batch);
    alerting al = {f->s, "2026-11-23T09:00:00.000Z", batch};
    store_outbox_item it;
    alert a, w;

    assert_non_null(batch);
    /* Raised in a transaction that rolls back: nothing is queued. */
    make_alert(&a, "R1", "critical", "reused:c1:s2");
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(alerting_raise(&al, &a), 0);
    store_rollback(f->s);
    assert_int_equal(next(f, "webhook", &it), 0);

    /* Committed: one event, queued for both sinks; a warning only for the webhook. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(alerting_raise(&al, &a), 0);
    make_alert(&w, "R2", "warning", "no-lot:c2:s3");
    assert_int_equal(alerting_raise(&al, &w), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(next(f, "webhook", &it), 1);
    int64_t first = it.event_id;
    assert_non_null(strstr(it.payload, "\"event_id\":"));
    assert_non_null(strstr(it.payload, "\"event\":\"raised\""));
    assert_non_null(strstr(it.payload, "clinic \\\"north\\\""));   /* escaped by cJSON */
    assert_non_null(strstr(it.payload, "\"at\":\"2026-11-23T09:00:00.000Z\""));
    free(it.payload);

    /* A failure keeps it first, counted; another sink is not held by it. */
    assert_int_equal(store_outbox_failed(f->s, "webhook", first, "HTTP 503", "2026-11-23T09:00:01.000Z"), 0);
    assert_int_equal(next(f, "webhook", &it), 1);
    assert_int_equal(it.event_id, first);
    assert_int_equal(it.attempts, 1);
    free(it.payload);
    assert_int_equal(next(f, "smtp", &it), 1);
    assert_int_equal(it.event_id, first);
    free(it.payload);
    assert_int_equal(store_outbox_delivered(f->s, "smtp", first, "2026-11-23T09:00:01.000Z"), 0);
    assert_int_equal(next(f, "smtp", &it), 0);   /* the warning is not e-mail's */

    /* Delivered: the next one in order. */
    assert_int_equal(store_outbox_delivered(f->s, "webhook", first, "2026-11-23T09:00:02.000Z"), 0);
    assert_int_equal(next(f, "webhook", &it), 1);
    assert_true(it.event_id > first);
    assert_int_equal(store_outbox_delivered(f->s, "webhook", it.event_id, "2026-11-23T09:00:02.000Z"), 0);
    free(it.payload);
    assert_int_equal(next(f, "webhook", &it), 0);

    /* Cleared: to the webhook only (e-mail takes raised/escalated/reminder). */
    al.now_ts = "2026-11-23T10:00:00.000Z";
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(alerting_clear(&al, "R2", "dev-1", "no-lot:c2:s3"), 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(next(f, "webhook", &it), 1);
    assert_non_null(strstr(it.payload, "\"event\":\"cleared\""));
    assert_int_equal(store_outbox_delivered(f->s, "webhook", it.event_id, "2026-11-23T10:00:01.000Z"), 0);
    free(it.payload);
    assert_int_equal(next(f, "smtp", &it), 0);

    /* Reminders: the open R1 (last event 09:00) once renotify_s has passed
     * since its last event, and not again before the next period. */
    int queued = -1;
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_outbox_remind(f->s, "2026-11-23T08:59:59.000Z", "2026-11-24T08:59:59.000Z", &queued), 0);
    assert_int_equal(queued, 0);
    assert_int_equal(store_outbox_remind(f->s, "2026-11-23T09:00:00.001Z", "2026-11-24T09:00:00.001Z", &queued), 0);
    assert_int_equal(queued, 1);   /* R1 only: R2 is cleared */
    assert_int_equal(store_outbox_remind(f->s, "2026-11-23T09:00:00.001Z", "2026-11-24T09:00:00.001Z", &queued), 0);
    assert_int_equal(queued, 0);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(next(f, "smtp", &it), 1);
    assert_non_null(strstr(it.payload, "\"event\":\"reminder\""));
    free(it.payload);
    free(batch);
}

/* Several collectors on one PostgreSQL share the outbox: each sink is sent
 * from one of them, the holder of its lock, until its connection ends;
 * then another takes over. SQLite has one collector: always its own. */
static void outbox_one_sender_per_sink(void **state)
{
    fixture *f = *state;
    store *other;
    char err[600];
    bool held = false;

    assert_int_equal(store_open(f->db, &other, err, sizeof err), 0);
    assert_int_equal(store_outbox_lead(f->s, "webhook", &held), 0);
    assert_true(held);
    assert_int_equal(store_outbox_lead(f->s, "webhook", &held), 0);   /* asked again: kept */
    assert_true(held);
    assert_int_equal(store_outbox_lead(other, "webhook", &held), 0);
    assert_int_equal(held, !testdb_is_postgres());
    assert_int_equal(store_outbox_lead(other, "smtp", &held), 0);     /* another sink: free */
    assert_true(held);
    store_close(f->s);                                                /* the sender stops */
    f->s = other;
    /* The server ends the closed session (and frees its locks) a moment
     * after the client hangs up; a standing-by sender asks again at every
     * poll. */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(store_outbox_lead(other, "webhook", &held), 0);
        if (held)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    assert_true(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(filter_empty_and_all_select_everything),
        cmocka_unit_test(filter_terms_all_hold),
        cmocka_unit_test(filter_severity_order),
        cmocka_unit_test(filter_errors_name_the_term),
        cmocka_unit_test(hmac_rfc4231),
        cmocka_unit_test(retry_doubles_to_the_cap_and_resets),
        cmocka_unit_test_setup_teardown(outbox_state_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_one_sender_per_sink, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
