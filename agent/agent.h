/* agent: smp-agent's main loop — producers in, journal, uplink out.
 *
 * One thread owns the journal: it takes events (from the simulator), syncs
 * them, sends batches of synced records while the broker is reachable, and
 * applies the collector's acks. Paho's thread only updates the uplink's
 * snapshot. */
#ifndef SMP_AGENT_H
#define SMP_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent_config.h"
#include "simulator.h"

typedef struct agent_options {
    bool simulate;
    uint64_t seed;
    int64_t speed;             /* simulated seconds per real second; 0 = flat out */
    int64_t sim_start_ms;      /* first simulated day, 00:00 UTC */
    int sim_days;
    int fault_pct;
    sim_role sim_role;         /* simulate: machine, autoclave or both */
    const char *sim_sterilizer; /* simulate: NULL for the role's default (simulator.h) */
    bool exit_when_done;       /* simulate: exit once everything is acked */
} agent_options;

/* Runs until *stop is set (signal) or, with exit_when_done, the simulation
 * is over and acked. Returns the process exit status. */
int agent_run(const agent_config *cfg, const agent_options *opt, volatile sig_atomic_t *stop);

#endif
