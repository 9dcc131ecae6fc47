/* rules_grip: R5, a grip used in a session from a load without a passing
 * cycle (no cycle on record, or the latest failed R4), or from a load
 * under recall once the positive spore test was known (rules_recall.c).
 *
 * The grip and its load's cycle are often logged on two machines, so the
 * order they arrive in says nothing. A grip that looks bad is therefore
 * not judged at once: it waits settle_s (collector time) for the cycle
 * from the other machine, queued as a pending check that the timer judges
 * (rules_timer.c). Inside that window arrival order changes nothing; a
 * cycle that arrives after it and proves the alert wrong withdraws it
 * (not a violation). settle_s = 0 judges at once.
 *
 * The two machines may be handled by two collectors at the same moment:
 * a grip is stored and judged under the clinic's lock held shared
 * (store_lock_clinic_shared: grips write only their own rows and their
 * device's alerts, so two run beside each other), and a pending check is
 * settled under it held whole, as the cycle's and the spore test's sides
 * take it (rules_cycle.c, rules_spore.c). So each sees the other's state
 * whole, and no alert is raised on a judgement that a concurrent cycle
 * could no longer undo. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

enum { BAD_NO_CYCLE = 1u << 0, BAD_FAILED = 1u << 1, BAD_RECALLED = 1u << 2, NKINDS = 3 };

static const char *const kinds[NKINDS] = {"no-cycle:", "failed-load:", "recalled:"};

/* What a load says of the grips that came from it: the same for each
 * one but whether its use came after a recall (grip_bad). */
typedef struct verdict {
    unsigned bad;                 /* BAD_NO_CYCLE, BAD_FAILED */
    bool known;                   /* the load has a cycle on record */
    bool recalled;                /* positive holds the test that recalls it */
    rule_load load;
    rule_spore positive;
} verdict;

static int judge_load(store *s, const policy *p, const char *clinic, const char *load_id,
                      verdict *v)
{
    rule_recall_dates dates;
    int known, recalled;

    memset(v, 0, sizeof *v);
    if ((known = store_load_get(s, clinic, load_id, &v->load, &dates)) < 0)
        return -1;
    v->known = known;
    if (!known) {
        v->bad = BAD_NO_CYCLE;
        return 0;
    }
    if (!v->load.passed)
        v->bad |= BAD_FAILED;
    if ((recalled = rules__recalled_by(s, p, clinic, v->load.sterilizer_id, &dates,
                                       v->load.cycle.ts, &v->positive)) < 0)
        return -1;
    v->recalled = recalled;
    return 0;
}

static unsigned grip_bad(const verdict *v, const rule_grip *g)
{
    /* Before the result was read nobody could know: the recall list of
     * R7 names that use; after it, using the grip is a violation. */
    if (v->recalled && strcmp(g->use.ts, v->positive.read_ts) >= 0)
        return v->bad | BAD_RECALLED;
    return v->bad;
}

static void grip_cause(char *cause, size_t cap, const char *kind, const rule_grip *g)
{
    cause[0] = '\0';
    rules__cause_add(cause, cap, kind, g->session_id);
    rules__cause_add(cause, cap, ":", g->grip_id);
}

static int raise_kind(const alerting *al, const char *clinic, const rule_grip *g,
                      const verdict *v, int k)
{
    evidence e;
    alert a;

    rules__alert_init(&a, "R5", "critical", g->use.device, clinic);
    grip_cause(a.cause, sizeof a.cause, kinds[k], g);
    if (k == 0)
        rules__message(&a, "grip %s used in session %s came from load %s with no passing "
                       "sterilization cycle on record", g->grip_id, g->session_id, g->load_id);
    else if (k == 1)
        rules__message(&a, "grip %s used in session %s came from load %s whose sterilization "
                       "cycle failed", g->grip_id, g->session_id, g->load_id);
    else {
        /* When the result was read, in the clinic's local time like every
         * time a message gives (the evidence keeps UTC). */
        const tzlocal_zone *z = rules__zone(al->s, clinic);
        char read[TZLOCAL_TEXT_LEN + 1];
        if (!z)
            return -1;
        rules__local_text(z, v->positive.read_ts, read);
        rules__message(&a, "grip %s used in session %s came from load %s, recalled after the "
                       "positive spore test on sterilizer %s read %s", g->grip_id,
                       g->session_id, g->load_id, v->load.sterilizer_id, read);
    }
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "grip_id", g->grip_id);
    ev_str(&e, "session_id", g->session_id);
    ev_str(&e, "load_id", g->load_id);
    rules__ev_ref(&e, &g->use);
    if (v->known) {
        ev_open_object(&e, "cycle");
        ev_str(&e, "sterilizer_id", v->load.sterilizer_id);
        rules__ev_ref(&e, &v->load.cycle);
        ev_bool(&e, "passed", v->load.passed);
        ev_close(&e);
    } else {
        ev_null(&e, "cycle");
    }
    if (k == 2) {
        ev_open_object(&e, "spore_test");
        rules__ev_ref(&e, &v->positive.test);
        ev_str(&e, "read_ts", v->positive.read_ts);
        ev_str(&e, "cycle_ts", v->positive.cycle_ts);
        ev_close(&e);
    }
    ev_end(&e);
    return alerting_raise(al, &a);
}

typedef enum { ON_ARRIVAL, ON_RECHECK, ON_SETTLED } when;

/* Brings the grip's R5 alerts in line with what its load's verdict says
 * now: causes that no longer hold are withdrawn; causes that hold are
 * raised when settled (or settle_s is 0), else the grip waits in the
 * pending queue. */
static int reconcile(const alerting *al, const policy *p, const char *clinic, const rule_grip *g,
                     const verdict *v, when w)
{
    char cause[sizeof ((alert *)0)->cause];
    bool now = w == ON_SETTLED || p->settle_s == 0, queued = false;
    unsigned bad = grip_bad(v, g);

    for (int k = 0; k < NKINDS; k++) {
        if (!(bad & (1u << k))) {
            /* A grip just stored has no alerts; nor has one whose device
             * had no R5 open when it was read (a round trip on PostgreSQL
             * per cause, for the grips of every load a cycle rechecks). */
            if (w == ON_ARRIVAL || !g->r5_open)
                continue;
            grip_cause(cause, sizeof cause, kinds[k], g);
            if (alerting_withdraw(al, "R5", g->use.device, cause) != 0)
                return -1;
        } else if (now) {
            if (raise_kind(al, clinic, g, v, k) != 0)
                return -1;
        } else if (!queued) {
            if (store_pending_put(al->s, clinic, g, al->now_ts) != 0)
                return -1;
            queued = true;
        }
    }
    return 0;
}

int rules__grip(const rules_ctx *c, const record *r)
{
    alerting al = rules__alerting(c);
    rule_grip g = {.use = rules__ref(c, r)};
    verdict v;

    snprintf(g.load_id, sizeof g.load_id, "%s", record_get_str(r, "load_id"));
    snprintf(g.grip_id, sizeof g.grip_id, "%s", record_get_str(r, "grip_id"));
    snprintf(g.session_id, sizeof g.session_id, "%s", record_get_str(r, "session_id"));
    /* Kept for R7's recall list and for the cycle that arrives later. */
    if (store_lock_clinic_shared(c->s, c->clinic) != 0 || store_grip_put(c->s, c->clinic, &g) != 0 ||
        judge_load(c->s, c->p, c->clinic, g.load_id, &v) != 0)
        return -1;
    return reconcile(&al, c->p, c->clinic, &g, &v, ON_ARRIVAL);
}

/* A grip is judged from its load's row: that read is sent ahead for the
 * message's first grip, unless a cycle or spore test before it in the
 * message (the only records whose rules write loads and their
 * sterilizers' dates: rules_cycle.c, rules_spore.c) could change what it
 * reads, or the grip may be stored already (at or below the device's
 * stored top: a resend, whose grip is not judged again). */
int rules_read_ahead(const rules_ctx *c, const record *const *records, size_t n)
{
    store_load_ahead_drop(c->s);
    for (size_t i = 0; i < n; i++) {
        const record *r = records[i];
        const char *load_id;

        switch (r->type) {
        case RT_STERILIZATION_CYCLE:
        case RT_STERILIZATION_TEST:
            return 0;
        case RT_GRIP_ASSIGN:
            if (r->seq <= c->top_before || !(load_id = record_get_str(r, "load_id")))
                return 0;
            return store_load_get_ahead(c->s, c->clinic, load_id);
        default:
            break;
        }
    }
    return 0;
}

void rules_read_ahead_done(const rules_ctx *c)
{
    store_load_ahead_drop(c->s);
}

typedef struct recheck {
    const rules_ctx *c;
    verdict v;                    /* of the load, judged once for its grips */
} recheck;

/* store_grip_fn */
static int recheck_grip(void *ctx, const rule_grip *g)
{
    const recheck *rc = ctx;
    alerting al = rules__alerting(rc->c);
    return reconcile(&al, rc->c->p, rc->c->clinic, g, &rc->v, ON_RECHECK);
}

/* Grips of one load rechecked per cycle; more is not a clinic's day. */
#define GRIPS_PER_LOAD_MAX 256

/* A cycle of load_id at since_ts arrived: the grips used at or after it
 * are judged again. One run after a use does not excuse it, so earlier
 * grips are left as they are. */
int rules__grip_recheck(const rules_ctx *c, const char *load_id, const char *since_ts)
{
    recheck rc = {.c = c};

    /* Raising or withdrawing the grips' alerts changes nothing the load's
     * verdict rests on. */
    if (judge_load(c->s, c->p, c->clinic, load_id, &rc.v) != 0)
        return -1;
    return store_grips_of_load(c->s, c->clinic, load_id, since_ts, GRIPS_PER_LOAD_MAX,
                               recheck_grip, &rc);
}

int rules__grip_settle(store *s, const policy *p, const char *now_ts, alert_batch *out,
                       const char *device, uint64_t seq)
{
    alerting al = {s, now_ts, out};
    char clinic[RECORD_STR_MAX + 1];
    rule_grip g;
    verdict v;
    int found;

    /* The grip row never changes: its clinic can be read before the lock,
     * but whether an R5 of its device is open only under it. */
    if ((found = store_grip_get(s, device, seq, &g, clinic)) <= 0)
        return found;
    if (store_lock_clinic(s, clinic) != 0 || (found = store_grip_get(s, device, seq, &g, clinic)) < 0)
        return -1;
    if (!found)
        return 0;
    if (judge_load(s, p, clinic, g.load_id, &v) != 0)
        return -1;
    return reconcile(&al, p, clinic, &g, &v, ON_SETTLED);
}
