/* export_logs: the CSV logs of the inspector's audit bundle (export.c),
 * RFC 4180 like report_csv: CRLF line ends, a header line, text quoted
 * only when it must be. Every log holds the report's period, the clinic's
 * local days (report_data.from_ts / until_ts). Times are the records' own
 * UTC strings, each beside the same instant in the clinic's zone with the
 * zone named; every row names the device and seq of the record it comes
 * from, so an inspector can find it in the chain (manifest.json).
 * docs/reports.md lists the columns.
 *
 * Writers return 0, or -1 when out reports a write error (errno as the
 * stream set it) or, for export_procedures, a database error with err
 * filled. */
#ifndef SMP_EXPORT_LOGS_H
#define SMP_EXPORT_LOGS_H

#include <stddef.h>
#include <stdio.h>

#include "report_data.h"
#include "sqldb.h"

/* sterilizer_log.csv: every sterilization cycle of d (each once, with the
 * records that logged it), with its tests. */
int export_sterilizer_csv(FILE *out, const report_data *d);

/* tests.csv: every spore and Bowie-Dick test of d. */
int export_tests_csv(FILE *out, const report_data *d);

/* violations.csv: every violation of d with the bodies of the records
 * its evidence cites. */
int export_violations_csv(FILE *out, const report_data *d);

/* procedure_log.csv (one row per session started in d's period: client
 * reference, never a name) and cartridge_log.csv (one row per cartridge
 * inserted in the period or in such a session), read from db for d's
 * clinic and period, inside the caller's read transaction. A session's
 * end, removals and grips are found up to a day after the period. */
int export_procedures(sqldb *db, const report_data *d, FILE *procedures, FILE *cartridges,
                      char *err, size_t errlen);

#endif
