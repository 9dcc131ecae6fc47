/* htmltext: text into HTML (and the SVG inside it). report_html.c and
 * report_svg.c both write device-supplied text into one page; this is the
 * one escaping both use, so neither depends on the other for it. */
#ifndef SMP_HTMLTEXT_H
#define SMP_HTMLTEXT_H

#include <stdio.h>

/* Writes text with & < > " ' replaced by entities, safe both as element
 * content and inside a quoted attribute. */
void htmltext_write(FILE *out, const char *text);

#endif
