/* report_chart: the numbers behind the report's four charts, for both of
 * their drawings: SVG in the HTML (report_svg.c) and vector paths in the
 * PDF (report_pdf.c). Bars, bins, the axis and the labels are decided
 * here once, so the two formats show the same chart. */
#ifndef SMP_REPORT_CHART_H
#define SMP_REPORT_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "report_data.h"

typedef enum report_chart {
    CHART_SESSIONS,   /* sessions per day (per week / 30 days in long periods) */
    CHART_STROKES,    /* strokes per day, likewise */
    CHART_CYCLES,     /* sterilization cycles passed and failed, stacked */
    CHART_RULES       /* violations by rule */
} report_chart;

/* What a series of bars counts, and so its colour in either drawing. */
typedef enum report_series_kind {
    SERIES_USE,       /* sessions, strokes */
    SERIES_PASS,      /* cycles passed */
    SERIES_FAIL       /* cycles failed or aborted */
} report_series_kind;

typedef struct report_series {
    const char *name;          /* legend and tooltip: "sessions" */
    report_series_kind kind;
    int64_t *v;                /* one value per bar (owned) */
} report_series;

/* A day chart: n bars of bin days each, stacked series, and its y axis:
 * grid lines every step from 0 to top (top >= max, a multiple of step). */
typedef struct report_bars {
    size_t n;
    char (*label)[REPORT_DATE_LEN + 1];  /* first day of each bar (owned) */
    int bin;
    report_series s[2];
    int ns;
    int64_t max, step, top;
} report_bars;

/* The chart's title ("Treatment sessions per day"), for a caption. */
void report_chart_title(const report_data *d, report_chart chart, char *out, size_t cap);

/* How many days one bar of the day charts covers for d's period: 1, 7
 * or 30, so that a chart has at most about 62 bars. */
int report_chart_bin_days(const report_data *d);

/* Fills *out for one of the day charts (not CHART_RULES) from d's days.
 * Returns 0, or -1 when out of memory; either way report_bars_free
 * releases *out. */
int report_bars_make(const report_data *d, report_chart chart, report_bars *out);
void report_bars_free(report_bars *b);

/* Every how many bars an x label is written (about 8 labels at most). */
size_t report_bars_label_every(const report_bars *b);

/* The x label of bar i: "MM-DD", or "YYYY-MM" for 30-day bars. */
void report_bars_label(const report_bars *b, size_t i, char out[REPORT_DATE_LEN + 1]);

/* The y axis for values up to max: a step of 1, 2 or 5 times a power of
 * ten giving about 4 grid lines, and the top of the axis. */
void report_chart_axis(int64_t max, int64_t *step, int64_t *top);

/* 12345 -> "12.3k", 6500000 -> "6.5M": axis labels stay short. */
void report_chart_short_number(int64_t v, char out[24]);

#endif
