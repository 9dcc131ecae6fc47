#include "wear.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void wear_init(wear *w, const wear_limits *lim)
{
    memset(w, 0, sizeof *w);
    w->lim = *lim;
}

/* As collector/rules_util.c builds causes, so the two compare equal. */
void wear_cause(const char *uid, char *cause, size_t cap)
{
    size_t n = (size_t)snprintf(cause, cap, "wear:");
    for (; *uid && n + 4 < cap; uid++) {
        if (*uid == ':' || *uid == '%')
            n += (size_t)snprintf(cause + n, cap - n, "%%%02X", (unsigned char)*uid);
        else
            cause[n++] = *uid;
    }
    if (n < cap)
        cause[n] = '\0';
}

/* Ends the current cartridge; WEAR_CLEAR when its local warning was open. */
static wear_action end_cartridge(wear *w, const char *why, wear_note *note)
{
    wear_action act = WEAR_NOTHING;
    if (w->have && w->local_open) {
        wear_cause(w->uid, note->cause, sizeof note->cause);
        snprintf(note->message, sizeof note->message,
                 "local warning cleared: cartridge %s %s", w->uid, why);
        act = WEAR_CLEAR;
    }
    memset(w->uid, 0, sizeof w->uid);
    w->have = w->over = w->local_open = w->settled = false;
    w->run_s = w->strokes = 0;
    w->over_seq = 0;
    return act;
}

/* Makes uid the current cartridge (a new one ends the previous). */
static wear_action start_cartridge(wear *w, const char *uid, wear_note *note)
{
    wear_action act = WEAR_NOTHING;
    if (w->have && strcmp(w->uid, uid) == 0)
        return act;  /* re-inserted in the same sitting: same cartridge */
    if (w->have)
        act = end_cartridge(w, "replaced", note);
    snprintf(w->uid, sizeof w->uid, "%s", uid);
    w->have = true;
    return act;
}

wear_action wear_observe(wear *w, const record *r, uint64_t seq, int64_t now_ms, wear_note *note)
{
    const char *uid;
    wear_action act = WEAR_NOTHING;

    switch (r->type) {
    case RT_CARTRIDGE_INSERT:
        return (uid = record_get_str(r, "cartridge_uid")) ? start_cartridge(w, uid, note) : act;
    case RT_CARTRIDGE_REMOVE:
        uid = record_get_str(r, "cartridge_uid");
        return w->have && uid && strcmp(uid, w->uid) == 0 ? end_cartridge(w, "removed", note) : act;
    case RT_USAGE_COUNTERS:
        uid = record_get_str(r, "cartridge_uid");
        if (uid)
            act = start_cartridge(w, uid, note);
        else if (!w->have)
            return act;  /* counters of no known cartridge */
        record_get_int(r, "cartridge_run_s", &w->run_s);
        record_get_int(r, "cartridge_strokes", &w->strokes);
        if (!w->over && (w->run_s > w->lim.max_run_s || w->strokes > w->lim.max_strokes)) {
            w->over = true;
            w->over_seq = seq;
            w->over_ms = now_ms;
        }
        return act;
    default:
        return act;
    }
}

wear_action wear_tick(wear *w, int64_t now_ms, bool connected, uint64_t acked_seq,
                      bool collector_has_it, wear_note *note)
{
    if (!w->have || !w->over)
        return WEAR_NOTHING;
    if (collector_has_it) {
        /* The collector's own R3 is the alert; ours is not needed twice. */
        bool was_open = w->local_open;
        w->local_open = false;
        w->settled = true;
        if (!was_open)
            return WEAR_NOTHING;
        wear_cause(w->uid, note->cause, sizeof note->cause);
        snprintf(note->message, sizeof note->message,
                 "local warning replaced by the collector's alert for cartridge %s", w->uid);
        return WEAR_CLEAR;
    }
    if (w->settled)
        return WEAR_NOTHING;
    bool waited = now_ms - w->over_ms >= w->lim.wait_ms;
    bool unacked = w->over_seq == 0 || acked_seq < w->over_seq;
    if (connected && !(waited && unacked))
        return WEAR_NOTHING;
    w->local_open = w->settled = true;
    wear_cause(w->uid, note->cause, sizeof note->cause);
    snprintf(note->message, sizeof note->message,
             "local warning (collector unreachable): replace cartridge %s: %" PRId64
             " s / %" PRId64 " strokes (limits %" PRId64 " s / %" PRId64 ")",
             w->uid, w->run_s, w->strokes, w->lim.max_run_s, w->lim.max_strokes);
    return WEAR_RAISE;
}
