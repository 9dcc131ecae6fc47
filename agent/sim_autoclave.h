/* sim_autoclave: the simulated autoclave of a clinic, as a pure function of
 * (sterilizer id, time, fault rate).
 *
 * The agents of a clinic never talk to each other, yet the machines must
 * name the loads the autoclave's own logger logged, and two agents logging
 * the same autoclave must log the same cycles (the collector keeps one
 * cycle (sterilizer_id, cycle_no) per clinic as one fact). So nothing here
 * depends on an agent's seed, start date or random stream: everything about
 * a cycle comes from a generator seeded by (sterilizer id, day, slot).
 *
 * Schedule, in UTC, every day:
 *   - slot k = 0..12: a prevac_134 cycle that ends at 07:00 + k h (07:00 ..
 *     19:00); its load is "<sterilizer>-<YYYYMMDD>-<HHMM>" of that end time.
 *   - a slot whose cycle failed is normally re-run: the same instruments in a
 *     cycle of their own that ends 30 min later (a load of its own). With
 *     fault_pct > 0, a failed slot is sometimes not re-run (chance
 *     fault_pct %), and grips are then handed out from it (rule R5).
 *   - cycle_no = days since 1970 x 32 + 2 x slot (+ 1 for a re-run): unique
 *     per sterilizer, increasing with time.
 *   - a Bowie-Dick test (negative) on the day's first cycle, logged 45 min
 *     after it; on Mondays also a spore test on it, logged 46 min after,
 *     positive with chance fault_pct / 4 %.
 * A slot's cycle fails with chance fault_pct / 2 + 2 %, a re-run with
 * fault_pct / 2 % (a failed re-run is handed out: there is no third run).
 * So at fault_pct 0 some cycles fail, and every one is re-run. */
#ifndef SMP_SIM_AUTOCLAVE_H
#define SMP_SIM_AUTOCLAVE_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

#define SIM_AUTOCLAVE_SLOTS 13           /* cycles a day on schedule */
#define SIM_AUTOCLAVE_ID_MAX 64          /* sterilizer ids: as device ids */

typedef struct sim_cycle {
    int64_t end_ms;                      /* when it ended: the record's ts */
    int64_t cycle_no;
    int slot;
    bool rerun;                          /* the re-run of a failed slot */
    bool failed;
    bool rerun_follows;                  /* failed and re-run: never handed out */
    char load_id[RECORD_STR_MAX + 1];
    int64_t temp_min_c, temp_max_c, exposure_s, pressure_min_kpa, pressure_max_kpa, dry_s;
} sim_cycle;

/* The cycle of slot 0..SIM_AUTOCLAVE_SLOTS-1 of day (days since 1970), or
 * its re-run. Returns false when there is none (a re-run of a slot that
 * passed or was left failed). */
bool sim_autoclave_cycle(const char *sterilizer_id, int fault_pct, int64_t day, int slot,
                         bool rerun, sim_cycle *out);

/* The load a grip taken at t_ms comes from: the latest cycle that ended
 * strictly before t_ms and was handed out (every cycle but a failed one
 * whose instruments went into a re-run). Always found: every day has one. */
void sim_autoclave_load_before(const char *sterilizer_id, int fault_pct, int64_t t_ms,
                               sim_cycle *out);

/* c as a sterilization.cycle record (RECORD_EVENT form). */
void sim_autoclave_cycle_record(const char *sterilizer_id, const sim_cycle *c, record *r);

/* The autoclave's events in time order over [start_ms, end_ms): cycles and
 * tests. The caller owns the struct; it holds no resources. */
typedef struct sim_autoclave {
    char sterilizer_id[SIM_AUTOCLAVE_ID_MAX + 1];
    int fault_pct;
    int64_t start_ms, end_ms;
    int64_t day;                         /* days since 1970 */
    int step;                            /* position within the day */
} sim_autoclave;

typedef struct sim_autoclave_event {
    int64_t due_ms;
    record event;
    bool failed_cycle;                   /* a cycle that failed (rule R4) */
    bool positive_spore;                 /* a positive spore test (rule R7) */
} sim_autoclave_event;

/* Returns -1 when sterilizer_id is not 1..SIM_AUTOCLAVE_ID_MAX bytes. */
int sim_autoclave_init(sim_autoclave *a, const char *sterilizer_id, int fault_pct,
                       int64_t start_ms, int64_t end_ms);
/* The next event; false when there is none left. */
bool sim_autoclave_next(sim_autoclave *a, sim_autoclave_event *out);

#endif
