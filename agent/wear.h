/* wear: the agent's own watch on its cartridge's wear, so the practitioner
 * is told to replace it even when the collector (which owns R3,
 * docs/rules.md) cannot answer (docs/agent.md, "Local wear warnings").
 *
 * It follows the events producers give the agent: cartridge.insert starts
 * a cartridge, usage.counters carry its cumulative cartridge_run_s and
 * cartridge_strokes (for cartridge_uid, or the inserted one when absent),
 * cartridge.remove ends it. Over a limit (same test as R3: run_s or
 * strokes *over* it) the tracker remembers the record that crossed it.
 *
 * The collector is unreachable for that record when the agent is not
 * connected to the broker, or when wait_ms after the crossing record was
 * journaled the collector has not acked it (broker up, collector down or
 * far behind). Then — unless the collector's own R3 for the cartridge is
 * already open — one local warning is raised. It ends when the cartridge
 * is removed (or another one is inserted), or is superseded when the
 * collector's R3 arrives. At most one warning per cartridge. Time is
 * passed in. */
#ifndef SMP_WEAR_H
#define SMP_WEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

typedef struct wear_limits {
    int64_t max_run_s;       /* keep in step with the collector's policy */
    int64_t max_strokes;
    int64_t wait_ms;         /* the collector's time to ack the crossing record */
} wear_limits;

typedef enum { WEAR_NOTHING, WEAR_RAISE, WEAR_CLEAR } wear_action;

/* What to say when an action is returned. cause is the collector's R3
 * cause for the cartridge ("wear:" + uid, ':' and '%' percent-encoded). */
typedef struct wear_note {
    char cause[160];
    char message[256];
} wear_note;

typedef struct wear {
    wear_limits lim;
    bool have;                          /* a cartridge is in */
    char uid[RECORD_STR_MAX + 1];
    int64_t run_s, strokes;
    bool over;                          /* crossed a limit */
    uint64_t over_seq;                  /* the record that did (0: not journaled) */
    int64_t over_ms;                    /* when it was journaled */
    bool local_open;                    /* our warning is open */
    bool settled;                       /* warned (by us or the collector): never again */
} wear;

void wear_init(wear *w, const wear_limits *lim);

/* The collector's R3 cause for uid. */
void wear_cause(const char *uid, char *cause, size_t cap);

/* An event the agent took (seq: its journal seq, 0 when it was not
 * journaled, i.e. a coalesced usage.counters). WEAR_CLEAR (note filled)
 * when it ends the cartridge of an open local warning. */
wear_action wear_observe(wear *w, const record *r, uint64_t seq, int64_t now_ms, wear_note *note);

/* Every loop turn. collector_has_it: the collector's R3 for the current
 * cartridge is open at the chair. WEAR_RAISE when the warning is due,
 * WEAR_CLEAR when the collector's alert supersedes ours. */
wear_action wear_tick(wear *w, int64_t now_ms, bool connected, uint64_t acked_seq,
                      bool collector_has_it, wear_note *note);

#endif
