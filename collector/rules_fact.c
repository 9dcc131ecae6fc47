/* rules_fact: a sterilizer's cycles and tests are facts of the sterilizer,
 * not of the device that logged them. The autoclave's own agent and any
 * machine of the clinic may log the same cycle or test; the first record
 * stored is the fact (rule_cycles, rule_tests) and a record with the same
 * content is a duplicate that no rule judges again. A cycle has a number:
 * another record with other content under it is an integrity alert (R9),
 * once per number, filed under the sterilizer (docs/rules.md,
 * "Sterilizers"). A test has none (two indicators of one lot may share a
 * cycle), so a test with other content is another test. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

/* SHA-256 of what the record says: its canonical bytes without seq, ts and
 * prev, which belong to the record that carried it, not to the fact. */
static int fact_digest(const record *r, char hex[RECORD_HASH_HEX])
{
    record facts;
    char canon[RECORD_CANON_MAX];
    int len;

    memcpy(&facts, r, record_used_size(r));
    facts.seq = 0;
    facts.ts[0] = facts.prev[0] = '\0';
    if ((len = record_canonical(&facts, canon, sizeof canon)) < 0)
        return -1;
    record_sha256_hex(canon, (size_t)len, hex);
    return 0;
}

/* R9: another record states this cycle number with other content. */
static int raise_conflict(const rules_ctx *c, const record *r, const rule_sterilizer *st,
                          const rule_ref *first)
{
    alerting al = rules__alerting(c);
    rule_ref ref = rules__ref(c, r);
    int64_t cycle_no = 0;
    char no[24];
    evidence e;
    alert a;

    record_get_int(r, "cycle_no", &cycle_no);
    snprintf(no, sizeof no, "%" PRId64, cycle_no);
    rules__alert_init(&a, "R9", "integrity", rules__sterilizer_owner(st), c->clinic);
    rules__cause_add(a.cause, sizeof a.cause, "cycle-conflict:", st->sterilizer_id);
    rules__cause_add(a.cause, sizeof a.cause, ":", no);
    rules__message(&a, "cycle %s of %s logged twice with different content: %s #%" PRIu64
                   " and %s #%" PRIu64 "; the first is kept", no, st->sterilizer_id,
                   first->device, first->seq, c->device, r->seq);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "sterilizer_id", st->sterilizer_id);
    ev_int(&e, "cycle_no", cycle_no);
    ev_open_object(&e, "kept");
    rules__ev_ref(&e, first);
    ev_close(&e);
    ev_open_object(&e, "conflicting");
    rules__ev_ref(&e, &ref);
    ev_close(&e);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

int rules__claim_fact(const rules_ctx *c, const record *r, const rule_sterilizer *st)
{
    rule_ref ref = rules__ref(c, r), first;
    char digest[RECORD_HASH_HEX];
    store_fact_state state;
    int64_t cycle_no = 0;
    int rc;

    record_get_int(r, "cycle_no", &cycle_no);
    if (fact_digest(r, digest) != 0)
        return -1;
    if (r->type == RT_STERILIZATION_CYCLE)
        rc = store_cycle_claim(c->s, c->clinic, st->sterilizer_id, cycle_no, &ref, digest,
                               &first, &state);
    else
        rc = store_test_claim(c->s, c->clinic, st->sterilizer_id, &ref, digest, &first, &state);
    if (rc != 0)
        return -1;
    if (state == STORE_FACT_OTHER && raise_conflict(c, r, st, &first) != 0)
        return -1;
    return state == STORE_FACT_NEW;
}
