/* simulator: a deterministic clinic day (or several) for one agent, in one
 * of three roles.
 *
 *   machine    a tattoo machine: treatment sessions of 2-5 h from about
 *              08:30 UTC until the evening, a grip from the clinic's
 *              autoclave at each session's start, cartridges inserted and
 *              worn out or swapped, usage counters every simulated minute at
 *              50-150 strokes/s. It never logs a cycle.
 *   autoclave  the autoclave's own logger (a device of kind sterilizer): only
 *              its sterilization cycles and tests (sim_autoclave.h).
 *   both       a machine that also logs the clinic's autoclave, for a clinic
 *              whose autoclave has no logger of its own: one such machine
 *              per clinic, the others machine.
 *
 * The agents of a clinic agree without talking: the autoclave runs on a fixed
 * schedule whose every cycle is a pure function of (sterilizer id, slot time,
 * fault_pct) (sim_autoclave.h), so a machine computes the load its grip
 * comes from, the latest handed out before it, and whether that load failed,
 * and two agents logging one autoclave log the same cycles. Give a clinic's
 * agents the same fault_pct and sterilizer id.
 *
 * Session and cartridge ids are "<device>-<YYYYMMDD>-s<seed>-ses<n>" and
 * "...-cart<n>": the device, the run's first simulated day, the seed and a
 * counter, so two runs that differ in seed or start date never share an id
 * (a cartridge seen in two sessions is rule R1), and the same run repeated
 * gives the same events. They keep to the device id alphabet [a-z0-9-] and
 * to RECORD_STR_MAX with any device id and seed.
 *
 * With fault_pct > 0 it injects what the compliance rules look for:
 * expired or lot-less cartridges, a cartridge reused in the next session,
 * grips from failed loads that were not re-run (machine); failed cycles,
 * positive spore tests (autoclave). Events come out in time order, one at a
 * time, so memory stays flat however many days are simulated. Same config,
 * same events. */
#ifndef SMP_SIMULATOR_H
#define SMP_SIMULATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

typedef enum {
    SIM_ROLE_BOTH = 0,       /* the default: a zeroed config keeps one-agent demos whole */
    SIM_ROLE_MACHINE,
    SIM_ROLE_AUTOCLAVE
} sim_role;

#define SIM_STERILIZER_DEFAULT "ac-1"   /* the clinic's autoclave for machine and both */

typedef struct sim_config {
    uint64_t seed;
    int64_t start_ms;        /* first day, 00:00 UTC */
    int days;                /* 1.. */
    int fault_pct;           /* 0..100: chance per opportunity of a fault */
    const char *device_id;   /* up to 64 bytes */
    sim_role role;
    const char *sterilizer_id; /* NULL: SIM_STERILIZER_DEFAULT, or device_id for autoclave */
} sim_config;

typedef struct simulator simulator;

/* NULL when out of memory, role is none of sim_role, or device_id /
 * sterilizer_id is empty or over 64 bytes. Copies what it keeps of cfg. */
simulator *sim_new(const sim_config *cfg);
void sim_free(simulator *s);

/* The next event and its device time; false when the last day is over.
 * The record (RECORD_EVENT form, no seq/prev/ts) is borrowed until sim_pop. */
bool sim_peek(simulator *s, int64_t *due_ms, const record **event);
void sim_pop(simulator *s);

/* The sterilizer this simulator logs (autoclave, both) or takes grips from
 * (machine); borrowed for the simulator's lifetime. */
const char *sim_sterilizer(const simulator *s);

/* "machine", "autoclave", "both" <-> sim_role; parse returns -1 on any
 * other name. */
int sim_role_parse(const char *name, sim_role *out);
const char *sim_role_name(sim_role role);

/* Faults injected so far, by kind, for tests that check the rules found
 * them. Each is counted by the role that injects it, so over a clinic with
 * one agent logging its autoclave each fault is counted once: machine
 * (and both): expired_cartridge, missing_lot, reused_cartridge,
 * grip_from_failed_load; autoclave (and both): failed_cycle, positive_spore. */
typedef struct sim_faults {
    int expired_cartridge, missing_lot, reused_cartridge, failed_cycle, grip_from_failed_load,
        positive_spore;
} sim_faults;
void sim_get_faults(const simulator *s, sim_faults *out);

#endif
