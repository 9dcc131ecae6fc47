/* rules_timer: the rules no record triggers, only the passing of time.
 * R5: grips that waited settle_s for their load's cycle are judged
 * (rules_grip.c). R6: a sterilizer without a negative spore test for more
 * than spore_interval_days of its clinic's local calendar (warning),
 * escalating to critical after spore_critical_days. R8: a device with an
 * open session and nothing received for silent_after_s.
 * Raising is idempotent per cause, so each tick re-checks everything and
 * only what changed produces an event.
 *
 * Several collectors may share one database: only the one holding the
 * leader lock (store_timer_leader) runs a pass; the others skip theirs
 * until the leader's connection ends. A pass decides on state that
 * records change (a device heard, a cycle or a negative test arriving) only
 * under the lock of that device or clinic, read again once the lock is
 * held, so it never raises what a concurrent record has just disproved. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rules_int.h"
#include "store_outbox.h"

typedef struct tick {
    store *s;
    const policy *p;
    int64_t now_ms;
    char now_ts[RECORD_TS_LEN + 1];
    char cutoff[RECORD_TS_LEN + 1];   /* of the check running now */
    alert_batch *out;
} tick;

static alerting tick_alerting(tick *t)
{
    return (alerting){t->s, t->now_ts, t->out};
}

/* The sterilizer listed as overdue, read again under its clinic's lock
 * into *st: 1 when it still is, 0 when a negative test committed meanwhile
 * (rules_spore.c) ended it. */
static int still_untested(tick *t, const rule_sterilizer *listed, rule_sterilizer *st)
{
    int found;

    if (store_lock_clinic(t->s, listed->clinic) != 0 ||
        (found = store_sterilizer_get(t->s, listed->clinic, listed->sterilizer_id, st)) < 0)
        return -1;
    if (!found)
        return 0;
    return strcmp(st->last_negative_ts[0] ? st->last_negative_ts : st->first_seen_ts,
                  t->cutoff) < 0;
}

/* R6 counts calendar days of the clinic's local calendar: a sterilizer
 * last tested negative (or first seen) on local day D is due on D +
 * spore_interval_days and overdue from local midnight after it; critical
 * after D + spore_critical_days. A clinic that tests every Monday is
 * never overdue on a Monday, whatever the hour of either test. */
typedef struct spore_due {
    const tzlocal_zone *z;
    const char *since;                 /* last negative test, or first seen */
    bool never;
    int64_t days;                      /* local calendar days since then */
    char since_date[TZLOCAL_DATE_LEN + 1], today[TZLOCAL_DATE_LEN + 1];
} spore_due;

/* 1 and *d when st is overdue at the tick's now, 0 when not, -1 store error. */
static int spore_overdue(tick *t, const rule_sterilizer *st, spore_due *d)
{
    int64_t since_ms = 0;

    if (!(d->z = rules__zone(t->s, st->clinic)))
        return -1;
    d->never = !st->last_negative_ts[0];
    d->since = d->never ? st->first_seen_ts : st->last_negative_ts;
    record_ts_parse(d->since, &since_ms);
    d->days = rules__local_day(d->z, t->now_ms) - rules__local_day(d->z, since_ms);
    rules__local_date(d->z, d->since, d->since_date);
    rules__local_date(d->z, t->now_ts, d->today);
    return d->days > t->p->spore_interval_days;
}

/* store_sterilizer_fn */
static int check_spore_due(void *ctx, const rule_sterilizer *listed)
{
    tick *t = ctx;
    alerting al = tick_alerting(t);
    rule_sterilizer fresh, *st = &fresh;
    bool critical;
    spore_due d;
    evidence e;
    alert a;
    int due;

    if ((due = still_untested(t, listed, &fresh)) <= 0 || (due = spore_overdue(t, st, &d)) <= 0)
        return due;
    critical = d.days > t->p->spore_critical_days;
    rules__alert_init(&a, "R6", critical ? "critical" : "warning", rules__sterilizer_owner(st), st->clinic);
    rules__cause_add(a.cause, sizeof a.cause, "spore-overdue:", st->sterilizer_id);
    rules__message(&a,
                   "spore test overdue on sterilizer %s: %s %s, %" PRId64
                   " days ago (due every %" PRId64 " days)",
                   st->sterilizer_id,
                   d.never ? "never tested negative since it was first seen" : "last negative",
                   d.since_date, d.days, t->p->spore_interval_days);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "sterilizer_id", st->sterilizer_id);
    if (d.never)
        ev_null(&e, "last_negative_ts");
    else
        ev_str(&e, "last_negative_ts", st->last_negative_ts);
    ev_str(&e, "first_seen_ts", st->first_seen_ts);
    ev_str(&e, "since_date", d.since_date);
    ev_str(&e, "today", d.today);
    ev_str(&e, "timezone", tzlocal_name(d.z));
    ev_int(&e, "days", d.days);
    ev_int(&e, "spore_interval_days", t->p->spore_interval_days);
    ev_int(&e, "spore_critical_days", t->p->spore_critical_days);
    ev_end(&e);
    return alerting_raise_or_escalate(&al, &a);
}

/* store_silent_fn: the device is read again under its lock, since a record
 * committed meanwhile (rules_after_batch) ends the silence. */
static int check_silent(void *ctx, const rule_silent *listed)
{
    tick *t = ctx;
    alerting al = tick_alerting(t);
    rule_silent fresh, *d = &fresh;
    char silent_for[48], limit[48];
    int64_t last_ms = 0;
    evidence e;
    alert a;
    int silent;

    if (store_lock_device(t->s, listed->device) != 0 ||
        (silent = store_device_silent(t->s, listed->device, t->cutoff, &fresh)) < 0)
        return -1;
    if (!silent)
        return 0;
    record_ts_parse(d->last_received_at, &last_ms);
    rules__alert_init(&a, "R8", "maintenance", d->device, d->clinic);
    snprintf(a.cause, sizeof a.cause, "silent");
    rules__duration_text((t->now_ms - last_ms) / 1000, silent_for, sizeof silent_for);
    rules__duration_text(t->p->silent_after_s, limit, sizeof limit);
    rules__message(&a, "device silent for %s during open session %s (limit %s)", silent_for,
                   d->session_id, limit);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "session_id", d->session_id);
    ev_str(&e, "last_received_at", d->last_received_at);
    ev_int(&e, "silent_s", (t->now_ms - last_ms) / 1000);
    ev_int(&e, "silent_after_s", t->p->silent_after_s);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

/* store_pending_fn: the check is judged now, whatever it finds. */
static int settle_grip(void *ctx, int64_t id, const char *device, uint64_t seq)
{
    tick *t = ctx;
    if (store_pending_drop(t->s, id) != 0)
        return -1;
    return rules__grip_settle(t->s, t->p, t->now_ts, t->out, device, seq);
}

/* Open alerts whose last notification is renotify_s old are sent again
 * (event "reminder", notification sinks only: MQTT subscribers saw the
 * alert and its state is in the database), in this tick's transaction. */
static int remind(tick *t)
{
    char cutoff[RECORD_TS_LEN + 1];
    int queued;

    if (t->p->renotify_s <= 0)
        return 0;
    record_ts_format(t->now_ms - t->p->renotify_s * 1000, cutoff);
    if (store_outbox_remind(t->s, cutoff, t->now_ts, &queued) != 0)
        return -1;
    if (queued)
        log_info("notification reminders queued=%d renotify_s=%lld", queued,
                 (long long)t->p->renotify_s);
    return 0;
}

/* R8 first: it takes device locks, the others clinic locks, and a
 * device's lock comes before its clinic's (store_lock_clinic). */
static int run_rules(tick *t)
{
    record_ts_format(t->now_ms - t->p->silent_after_s * 1000, t->cutoff);
    if (store_devices_silent_since(t->s, t->cutoff, check_silent, t) != 0)
        return -1;
    record_ts_format(t->now_ms - t->p->settle_s * 1000, t->cutoff);
    if (store_pending_due(t->s, t->cutoff, settle_grip, t) != 0)
        return -1;
    /* R6 counts local calendar days (spore_overdue): a sterilizer overdue
     * anywhere has waited more than the interval less the two days that
     * offsets and their changes can take off. */
    record_ts_format(t->now_ms - (t->p->spore_interval_days - 2) * DAY_MS, t->cutoff);
    if (store_sterilizers_untested_since(t->s, t->cutoff, check_spore_due, t) != 0)
        return -1;
    return remind(t);
}

/* Whether this process's timer led at its last pass (-1: no pass yet),
 * kept only to log a change once: the collector runs one timer. */
static atomic_int led = -1;

/* Takes or keeps the leader lock (in the transaction, so that a lost
 * connection is opened again first); *leader false: another collector
 * runs the time-driven rules. */
static int lead(store *s, bool *leader)
{
    if (store_timer_leader(s, leader) != 0)
        return -1;
    if (atomic_exchange(&led, *leader) == (int)*leader)
        return 0;
    if (*leader)
        log_info("rules timer leader=yes lock=%s: this collector runs the time-driven rules",
                 STORE_TIMER_LOCK);
    else
        log_info("rules timer leader=no lock=%s: another collector runs the time-driven rules; "
                 "this one skips them while that one's database session lasts", STORE_TIMER_LOCK);
    return 0;
}

int rules_tick(store *s, const policy *p, int64_t now_ms, alert_batch *out)
{
    tick t = {s, p, now_ms, "", "", out};
    bool leader;

    record_ts_format(now_ms, t.now_ts);
    out->count = out->dropped = 0;
    if (store_begin(s) != 0 || lead(s, &leader) != 0)
        goto failed;
    if (!leader) {
        store_rollback(s);
        return 0;
    }
    if (run_rules(&t) != 0 || store_commit(s) != 0)
        goto failed;
    return 0;

failed:
    log_error("time-driven rules failed: %s; retrying at the next tick", store_errmsg(s));
    store_rollback(s);
    out->count = out->dropped = 0;
    return -1;
}
