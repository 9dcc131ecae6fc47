/* report_svg: the report's charts as inline SVG, drawn here in C: no
 * script, no external file, nothing fetched, so the HTML stays one
 * self-contained printable file. Every bar carries a <title> with its
 * exact value (a tooltip on screen). The numbers (bars, bins, axis) are
 * report_chart's, which the PDF draws too. */
#ifndef SMP_REPORT_SVG_H
#define SMP_REPORT_SVG_H

#include <stdio.h>

#include "report_chart.h"
#include "report_data.h"

/* Writes one <svg> element (borrowed out, not closed). */
void report_svg_chart(FILE *out, const report_data *d, report_chart chart);

#endif
