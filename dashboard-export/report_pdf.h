/* report_pdf: a report_data as a printable PDF (libharu): title and
 * period, summary, violations by rule, per-device usage, the violations
 * with the records they cite, the sterilizer log (landscape pages) and the
 * spore and Bowie-Dick tests, with "page N of M" on every page.
 *
 * Text uses the PDF standard font Helvetica (nothing embedded, nothing
 * read from disk) in WinAnsi encoding: UTF-8 text outside Latin-1 (rare:
 * ids are ASCII) prints as '?'. */
#ifndef SMP_REPORT_PDF_H
#define SMP_REPORT_PDF_H

#include <stdio.h>

#include "report_data.h"

/* Writes d to out (borrowed, not closed). Returns 0, or -1 when libharu
 * fails or out reports a write error. */
int report_pdf_write(FILE *out, const report_data *d);

#endif
