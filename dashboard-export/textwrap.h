/* textwrap: where lines break when text is set in a column of a given
 * width, for the PDF report (report_pdf.c), whose library draws single
 * lines only. The width of a piece of text comes from the caller's
 * measure function (the font's widths), so the breaking itself is tested
 * with any metric.
 *
 * Prose breaks between words: at spaces, which are dropped at the break,
 * and at newlines. Never inside a word: a word wider than the whole line is
 * the only thing ever cut, at the last byte that fits (at least one byte
 * per line, so a line narrower than a character still ends).
 *
 * Verbatim text (a record's canonical bytes in the appendix) keeps every
 * byte: lines break after a space or a comma where they can, and the
 * lines put back together are the text itself. */
#ifndef SMP_TEXTWRAP_H
#define SMP_TEXTWRAP_H

#include <stdbool.h>
#include <stddef.h>

/* A line: len bytes of the text from off. */
typedef struct textwrap_line {
    size_t off, len;
} textwrap_line;

/* The width of len bytes of s, in the caller's unit. Widths must add up:
 * the width of "ab" is that of "a" plus that of "b" (true of the PDF
 * standard fonts, which have no kerning unless asked). */
typedef double (*textwrap_measure)(void *ctx, const char *s, size_t len);

/* Breaks text (len bytes, single-byte characters) into lines no wider
 * than width: as prose, or verbatim when verbatim is set (above). Fills
 * out[0..max) and returns how many lines the whole text takes, which
 * may be more than max (the caller then shows fewer or asks again with
 * more room). Empty text is one empty line. */
size_t textwrap(const char *text, size_t len, double width, bool verbatim,
                textwrap_measure measure, void *ctx, textwrap_line *out, size_t max);

#endif
