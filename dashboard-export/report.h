/* report: `smpctl report`, the clinic compliance report on the command
 * line. Gathers with report_data, renders with the writer the --format
 * names (report_csv, report_html, report_json, report_pdf). */
#ifndef SMP_REPORT_H
#define SMP_REPORT_H

#include "report_data.h"
#include "sqldb.h"

/* argv holds the options after "report":
 *   --db PATH|URI --clinic C --from YYYY-MM-DD --to YYYY-MM-DD --format csv|html|json|pdf
 *   [--out FILE] [--signatory "Name, Role"]
 * --signatory names who signs for the clinic in the HTML and PDF signature
 * block (report_data_set_signatory).
 * Output goes to FILE (removed again if writing fails) or stdout.
 * Borrows argv. Returns 0 on success, 1 on an error (a bad value, unknown
 * clinic, database or write failure, reported on stderr naming the option
 * or file), 2 on a usage error (unknown or missing option). */
int report_cmd(int argc, char **argv);

/* Shared with smpctl export. */

/* The current UTC time as a record ts. */
void report_now_ts(char out[REPORT_TS_LEN + 1]);

/* Opens an existing database read-only (a SQLite path or a postgresql://
 * URI; never creates one: a mistyped path is an error), reporting failures
 * on stderr as "smpctl CMD: ...". On success *db is the caller's
 * (sqldb_close). */
int report_open_db(const char *cmd, const char *target, sqldb **db);

#endif
