/* simulator: a deterministic clinic day (or several) for one machine.
 *
 * Morning autoclave cycle (with a Bowie-Dick test, and a spore test once a
 * week), then treatment sessions of 2-5 h until the evening: a grip from the
 * latest load, cartridges inserted and worn out or swapped, usage counters
 * every simulated minute at 50-150 strokes/s, an autoclave cycle between
 * sessions. With fault_pct > 0 it injects what the compliance rules look for:
 * expired or lot-less cartridges, a cartridge reused in a later session,
 * failed cycles whose grips are used anyway, positive spore tests.
 *
 * Events come out in time order, one at a time, so memory stays flat however
 * many days are simulated. Same config, same events. */
#ifndef SMP_SIMULATOR_H
#define SMP_SIMULATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

typedef struct sim_config {
    uint64_t seed;
    int64_t start_ms;        /* first day, 00:00 UTC */
    int days;                /* 1.. */
    int fault_pct;           /* 0..100: chance per opportunity of a fault */
    const char *device_id;
} sim_config;

typedef struct simulator simulator;

simulator *sim_new(const sim_config *cfg);
void sim_free(simulator *s);

/* The next event and its device time; false when the last day is over.
 * The record (RECORD_EVENT form, no seq/prev/ts) is borrowed until sim_pop. */
bool sim_peek(simulator *s, int64_t *due_ms, const record **event);
void sim_pop(simulator *s);

/* Faults injected so far, by kind, for tests that check the rules found them. */
typedef struct sim_faults {
    int expired_cartridge, missing_lot, reused_cartridge, failed_cycle, grip_from_failed_load,
        positive_spore;
} sim_faults;
void sim_get_faults(const simulator *s, sim_faults *out);

#endif
