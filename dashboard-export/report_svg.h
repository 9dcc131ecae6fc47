/* report_svg: the report's charts as inline SVG, drawn here in C: no
 * script, no external file, nothing fetched, so the HTML stays one
 * self-contained printable file. Every bar carries a <title> with its
 * exact value (a tooltip on screen). */
#ifndef SMP_REPORT_SVG_H
#define SMP_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "report_data.h"

typedef enum report_chart {
    CHART_SESSIONS,   /* sessions per day (per week / 30 days in long periods) */
    CHART_STROKES,    /* strokes per day, likewise */
    CHART_CYCLES,     /* sterilization cycles passed and failed, stacked */
    CHART_RULES       /* violations by rule */
} report_chart;

/* The chart's title ("Treatment sessions per day"), for a caption. */
void report_svg_title(const report_data *d, report_chart chart, char *out, size_t cap);

/* Writes one <svg> element (borrowed out, not closed). */
void report_svg_chart(FILE *out, const report_data *d, report_chart chart);

/* How many days one bar of the day charts covers for d's period: 1, 7
 * or 30, so that a chart has at most about 62 bars. */
int report_svg_bin_days(const report_data *d);

#endif
