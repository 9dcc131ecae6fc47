/* csvcell: every cell smpctl writes into a CSV file goes through here, so
 * one rule holds for report.csv and every log of the audit bundle.
 *
 * RFC 4180: a text cell is quoted when it holds a comma, quote, CR or LF,
 * with quotes doubled. Spreadsheet formula injection (OWASP "CSV
 * Injection"): a text cell starting with = + - @, tab or CR would be run by
 * Excel, LibreOffice or Sheets as a formula (=HYPERLINK(...), a DDE call),
 * so such a cell is written as '<text>, quoted: the leading single quote
 * makes the spreadsheet show it as text. Numbers we format ourselves from
 * integers (counts, seqs, tenths) are written as they are: "-12.5" can only
 * be a number, and a spreadsheet must be able to sum the column.
 * docs/reports.md "CSV cells". */
#ifndef SMP_CSVCELL_H
#define SMP_CSVCELL_H

#include <stdint.h>
#include <stdio.h>

/* A text cell (NULL is an empty cell). */
void csv_text(FILE *out, const char *text);
/* An integer cell. */
void csv_int(FILE *out, int64_t v);
/* A fixed decimal held as tenths, with one place: -125 -> -12.5. */
void csv_dec1(FILE *out, int64_t tenths);
/* The separator before every cell but the first, and the row end. */
void csv_sep(FILE *out);
void csv_end_row(FILE *out);

#endif
