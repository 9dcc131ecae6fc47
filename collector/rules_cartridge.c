/* rules_cartridge: R1 (a cartridge in more than one session), R2 (expired
 * or without a lot) and R3 (worn: replace). Needles are single-use, one
 * client, one sitting (docs/rules.md for the sources). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

static void ev_use(evidence *e, const char *key, const rule_ref *ref, const char *session_id)
{
    ev_open_object(e, key);
    rules__ev_ref(e, ref);
    ev_str(e, "session_id", session_id);
    ev_close(e);
}

/* R1: re-inserting in the same session of the same device is allowed (the
 * same client, the same sitting); any other session is a reuse. The first
 * use is decided by the store (one row per uid), also when two collectors
 * see the same uid at once: exactly one of them finds the other's. In a
 * group without savepoints the claim is sent ahead: a first use or a
 * re-insert passes, a reuse sends the group through again, carefully. */
static int check_reuse(const rules_ctx *c, const record *r, const rule_ref *use)
{
    const char *uid = record_get_str(r, "cartridge_uid"), *session = record_get_str(r, "session_id");
    char first_session[RECORD_STR_MAX + 1];
    rule_ref first;
    alerting al = rules__alerting(c);
    evidence e;
    alert a;
    int known;

    if (c->optimistic && (known = store_cartridge_claim_ahead(c->s, uid, use, session)) != 0)
        return known < 0 ? -1 : 0;
    if ((known = store_cartridge_first_use(c->s, uid, use, session, &first, first_session)) <= 0)
        return known;
    if (strcmp(first.device, use->device) == 0 && strcmp(first_session, session) == 0)
        return 0;
    rules__alert_init(&a, "R1", "critical", c->device, c->clinic);
    rules__cause_add(a.cause, sizeof a.cause, "reused:", uid);
    rules__cause_add(a.cause, sizeof a.cause, ":", session);
    rules__message(&a, "cartridge %s reused: inserted in session %s after session %s on %s", uid,
                   session, first_session, first.device);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "cartridge_uid", uid);
    ev_use(&e, "first", &first, first_session);
    ev_use(&e, "reuse", use, session);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

static void ev_insert(evidence *e, const record *r, const rule_ref *use)
{
    const char *lot = record_get_str(r, "lot");

    ev_str(e, "cartridge_uid", record_get_str(r, "cartridge_uid"));
    ev_str(e, "session_id", record_get_str(r, "session_id"));
    rules__ev_ref(e, use);
    ev_str(e, "expiry", record_get_str(r, "expiry"));
    if (lot)
        ev_str(e, "lot", lot);
    else
        ev_null(e, "lot");
}

/* Whether the insert's local date (the clinic's calendar) is after the
 * printed expiry date; *z and local_date are filled when it is. The local
 * date is never more than a day from the UTC date, so an insert whose UTC
 * date is before the expiry date is in date without asking the store for
 * the clinic's zone: the usual case costs nothing. Text order of
 * YYYY-MM-DD is date order. 1 expired, 0 not, -1 store error. */
static int expired(const rules_ctx *c, const record *r, const char *expiry,
                   const tzlocal_zone **z, char local_date[TZLOCAL_DATE_LEN + 1])
{
    if (strncmp(r->ts, expiry, TZLOCAL_DATE_LEN) < 0)
        return 0;
    if (!(*z = rules__zone(c->s, c->clinic)))
        return -1;
    rules__local_date(*z, r->ts, local_date);
    return strcmp(local_date, expiry) > 0;
}

/* R2: inserted on a local calendar day after the printed expiry date is
 * critical (on the expiry day itself it is still in date, until local
 * midnight); a missing lot defeats recall tracing and is a warning.
 * Separate causes: one cartridge can be both. */
static int check_pack(const rules_ctx *c, const record *r, const rule_ref *use)
{
    const char *uid = record_get_str(r, "cartridge_uid"), *session = record_get_str(r, "session_id");
    const char *expiry = record_get_str(r, "expiry");
    char local_date[TZLOCAL_DATE_LEN + 1], local[TZLOCAL_TEXT_LEN + 1];
    const tzlocal_zone *z = NULL;
    alerting al = rules__alerting(c);
    evidence e;
    alert a;
    int late;

    if ((late = expired(c, r, expiry, &z, local_date)) < 0)
        return -1;
    if (late) {
        rules__local_text(z, r->ts, local);
        rules__alert_init(&a, "R2", "critical", c->device, c->clinic);
        rules__cause_add(a.cause, sizeof a.cause, "expired:", uid);
        rules__cause_add(a.cause, sizeof a.cause, ":", session);
        rules__message(&a, "cartridge %s inserted on %s, after its expiry %s", uid, local,
                       expiry);
        ev_begin(&e, a.evidence, sizeof a.evidence);
        ev_insert(&e, r, use);
        ev_str(&e, "local_date", local_date);
        ev_str(&e, "timezone", tzlocal_name(z));
        ev_end(&e);
        if (alerting_raise(&al, &a) != 0)
            return -1;
    }
    if (record_get_str(r, "lot"))
        return 0;
    rules__alert_init(&a, "R2", "warning", c->device, c->clinic);
    rules__cause_add(a.cause, sizeof a.cause, "no-lot:", uid);
    rules__cause_add(a.cause, sizeof a.cause, ":", session);
    rules__message(&a, "cartridge %s inserted without a lot number (needed to trace a recall)", uid);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_insert(&e, r, use);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

int rules__cartridge_insert(const rules_ctx *c, const record *r)
{
    rule_ref use = rules__ref(c, r);
    return check_reuse(c, r, &use) != 0 ? -1 : check_pack(c, r, &use);
}

static void wear_cause(char *cause, size_t cap, const char *uid)
{
    cause[0] = '\0';
    rules__cause_add(cause, cap, "wear:", uid);
}

/* Taking the cartridge out is what R3 asked for. */
int rules__cartridge_remove(const rules_ctx *c, const record *r)
{
    alerting al = rules__alerting(c);
    char cause[sizeof ((alert *)0)->cause];

    wear_cause(cause, sizeof cause, record_get_str(r, "cartridge_uid"));
    /* Nothing open to clear (most removals): no statement, which on
     * PostgreSQL was a round trip per removal. */
    bool open = !c->wear_closed || rules__raised(c, "R3", cause) || !rules__raised_all_known(c);
    rules__forget(c, "R3", cause);
    return open ? alerting_clear(&al, "R3", c->device, cause) : 0;
}

/* A counter over the wear limits judged after its cartridge's removal
 * was stored: the cartridge was worn all the same, and in order it would
 * have been raised, then cleared by the removal. So it is raised and
 * cleared at once, as in order — unless this cartridge's R3 is on record
 * already (an earlier counter raised it, and the removal or this same
 * path cleared it): raising it again would reopen what was closed for
 * good. */
static int raise_worn_out_of_order(const rules_ctx *c, alert *a)
{
    alerting al = rules__alerting(c);
    bool known;

    if (store_alert_known(c->s, a->rule, c->device, a->cause, &known) != 0)
        return -1;
    if (known)
        return 0;
    if (rules__raise_once(c, a) != 0)
        return -1;
    rules__forget(c, a->rule, a->cause);
    return alerting_clear(&al, a->rule, c->device, a->cause);
}

/* R3: raised while the session runs, from the periodic counters, so the
 * artist hears it before the needle is blunt; the alert's cause is the
 * cartridge, so it is raised once however many counters follow. */
int rules__cartridge_wear(const rules_ctx *c, const record *r)
{
    const char *uid = record_get_str(r, "cartridge_uid");
    int64_t run_s = 0, strokes = 0;
    rule_ref ref = rules__ref(c, r);
    evidence e;
    alert a;

    record_get_int(r, "cartridge_run_s", &run_s);
    record_get_int(r, "cartridge_strokes", &strokes);
    if (!uid || (run_s <= c->p->cartridge_max_run_s && strokes <= c->p->cartridge_max_strokes))
        return 0;
    rules__alert_init(&a, "R3", "maintenance", c->device, c->clinic);
    wear_cause(a.cause, sizeof a.cause, uid);
    /* Raised by an earlier counter of this message: open, nothing to do. */
    if (rules__raised(c, a.rule, a.cause))
        return 0;
    /* Records can be judged out of order (a later message stored first,
     * by another collector): then the cartridge's removal is stored
     * already (checked below). Not when nothing above it was stored
     * before its message (the usual counter, at the chain's end). */
    int removed = ref.seq >= c->top_before
                      ? 0
                      : store_cartridge_removed_after(c->s, c->device, uid, ref.seq);
    if (removed < 0)
        return -1;
    rules__message(&a,
                   "replace cartridge %s: %" PRId64 " s / %" PRId64 " strokes (limits %" PRId64
                   " s / %" PRId64 ")",
                   uid, run_s, strokes, c->p->cartridge_max_run_s, c->p->cartridge_max_strokes);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "cartridge_uid", uid);
    rules__ev_ref(&e, &ref);
    ev_int(&e, "cartridge_run_s", run_s);
    ev_int(&e, "cartridge_strokes", strokes);
    ev_int(&e, "cartridge_max_run_s", c->p->cartridge_max_run_s);
    ev_int(&e, "cartridge_max_strokes", c->p->cartridge_max_strokes);
    ev_end(&e);
    if (!removed)
        return rules__raise_once(c, &a);
    return raise_worn_out_of_order(c, &a);
}
