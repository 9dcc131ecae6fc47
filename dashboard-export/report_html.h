/* report_html: a report_data as one self-contained, printable HTML file:
 * inline CSS, no scripts, no external fetches, every text value escaped
 * (htmltext). Alerts show their evidence and cited records as readable
 * fields (evidence_text); the cited records' exact bytes are in an
 * appendix, and a signature block for the clinic's responsible person
 * ends the report. */
#ifndef SMP_REPORT_HTML_H
#define SMP_REPORT_HTML_H

#include <stdio.h>

#include "report_data.h"

/* Writes d to out (borrowed, not closed). Returns 0, or -1 when out
 * reports a write error. */
int report_html_write(FILE *out, const report_data *d);

#endif
