/* report_csv: a report_data as CSV (RFC 4180: CRLF line ends, a text field
 * quoted when it holds a comma, quote, CR or LF, quotes doubled; formula
 * cells neutralised: csvcell.h).
 * A header line, one row per device, then a TOTAL row. */
#ifndef SMP_REPORT_CSV_H
#define SMP_REPORT_CSV_H

#include <stdio.h>

#include "report_data.h"

/* Writes d to out (borrowed, not closed). Returns 0, or -1 when out
 * reports a write error (errno is left as the stream set it). */
int report_csv_write(FILE *out, const report_data *d);

/* Writes one text cell: csv_text (csvcell.h), kept under this name for
 * its callers. */
void report_csv_field(FILE *out, const char *text);

#endif
