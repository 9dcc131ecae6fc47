/* report_cycles: the sterilizer log of a report, one line per autoclave
 * cycle. A cycle (sterilizer_id, cycle_no) of a clinic is one fact however
 * many of its devices logged it: the autoclave's own logger agent, and any
 * machine that logs the autoclave through its feed (both may). The
 * collector keeps the record that stated a cycle first in rule_cycles
 * (common/db.c, docs/rules.md): the same cycle logged again with the same
 * content is a duplicate, one with other content raises an R9
 * cycle-conflict alert, and the first stays the fact.
 *
 * So a report lists and counts each cycle once, as
 *   - the record rule_cycles names for (clinic, sterilizer_id, cycle_no),
 *     when it has a row: that record's ts puts the cycle in a period;
 *   - else (cycles stored before schema version 4 have no row) the
 *     earliest of its records by (ts, device_id, seq), the same order on
 *     either store.
 * A record logs the cycle (report_cycle.copies, logged_by) when its
 * content, every field but seq, ts and prev, is the cycle's; a copy with
 * other content is no part of it.
 *
 * The copies of a cycle are looked for up to REPORT_CYCLE_WINDOW_MS
 * either side of the period: devices log a cycle when the autoclave ends
 * it, minutes apart, not days. A cycle without a rule_cycles row whose
 * earliest record is further before the period than that is taken at its
 * earliest record within reach. */
#ifndef SMP_REPORT_CYCLES_H
#define SMP_REPORT_CYCLES_H

#include <stddef.h>

#include "report_data.h"
#include "sqldb.h"

#define REPORT_CYCLE_WINDOW_MS (24 * 3600 * 1000LL)

/* Reads the sterilization.cycle records of d's clinic from the period's
 * start less REPORT_CYCLE_WINDOW_MS to its end plus it (sql: the report's
 * cycles query, ?1 clinic, ?2 and ?3 the bounds, ordered by ts, device_id,
 * seq) and the rule_cycles rows of the cycles they name; fills d->cycles
 * with the cycles whose record is in the period, in that order, with their
 * copies (d->copies) and logged_by. Verdicts and counts are the caller's.
 * Runs inside the caller's read transaction; borrows db. Returns 0, or -1
 * with err naming the query or "out of memory". */
int report_cycles_read(sqldb *db, report_data *d, const char *sql, char *err, size_t errlen);

#endif
