/* report_pdf: a report_data as a printable PDF (libharu): title, the
 * clinic and period, summary, the activity charts (drawn as vector paths,
 * the same charts as the HTML's: report_chart), violations by rule,
 * per-device usage, the violations and, apart, the maintenance notices
 * with their evidence as readable fields (evidence_text), the sterilizer
 * log (landscape pages), the spore and Bowie-Dick tests, the appendix of
 * cited records as stored, and the signature block; "page N of M" on
 * every page.
 *
 * Text breaks between words (textwrap); a table row that does not fit
 * goes on, or continues on, the next page under the table's header again.
 * Text uses the PDF standard fonts Helvetica and Courier (nothing
 * embedded, nothing read from disk) in WinAnsi encoding (cp1252): UTF-8
 * text is mapped to it, and a character it does not have (rare: ids are
 * ASCII) prints as '?', never as bytes that could break the PDF. */
#ifndef SMP_REPORT_PDF_H
#define SMP_REPORT_PDF_H

#include <stdio.h>

#include "report_data.h"

/* Writes d to out (borrowed, not closed). Returns 0, or -1 when libharu
 * fails or out reports a write error. */
int report_pdf_write(FILE *out, const report_data *d);

/* report_pdf_write with the pages' contents left uncompressed, so that a
 * test can read what is drawn: each line of text is one string shown by
 * one Tj operator. */
int report_pdf_write_uncompressed(FILE *out, const report_data *d);

/* UTF-8 text in the PDF fonts' encoding (WinAnsi): Latin-1 as it is, the
 * cp1252 punctuation (dashes, quotes, ellipsis, euro, ...) mapped, every
 * other character and every byte that is not well-formed UTF-8 as '?',
 * tabs as spaces, other control characters as '?', newlines kept. out
 * needs strlen(in) + 1 bytes; returns out. */
char *report_pdf_ansi(const char *in, char *out);

#endif
