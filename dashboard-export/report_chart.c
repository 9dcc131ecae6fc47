#include "report_chart.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BARS 62
#define MAX_X_LABELS 8

int report_chart_bin_days(const report_data *d)
{
    if (d->ndays <= MAX_BARS)
        return 1;
    return d->ndays <= (size_t)MAX_BARS * 7 ? 7 : 30;
}

void report_chart_title(const report_data *d, report_chart chart, char *out, size_t cap)
{
    int bin = report_chart_bin_days(d);
    const char *unit = bin == 1 ? "day" : bin == 7 ? "week" : "30 days";

    switch (chart) {
    case CHART_SESSIONS: snprintf(out, cap, "Treatment sessions per %s", unit); break;
    case CHART_STROKES: snprintf(out, cap, "Needle strokes per %s", unit); break;
    case CHART_CYCLES: snprintf(out, cap, "Sterilization cycles per %s", unit); break;
    case CHART_RULES: snprintf(out, cap, "Violations by rule"); break;
    }
}

void report_chart_short_number(int64_t v, char out[24])
{
    static const struct { int64_t div; const char *unit; } units[] = {
        {1000000000000LL, "T"}, {1000000000LL, "G"}, {1000000LL, "M"}, {1000LL, "k"}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (v >= units[i].div) {
            int64_t tenths = v / (units[i].div / 10);
            if (tenths % 10 == 0 || tenths >= 1000)
                snprintf(out, 24, "%" PRId64 "%s", tenths / 10, units[i].unit);
            else
                snprintf(out, 24, "%" PRId64 ".%" PRId64 "%s", tenths / 10, tenths % 10,
                         units[i].unit);
            return;
        }
    }
    snprintf(out, 24, "%" PRId64, v);
}

void report_chart_axis(int64_t max, int64_t *step, int64_t *top)
{
    int64_t raw = (max + 3) / 4, mag = 1;

    if (raw < 1) {
        *step = 1;
    } else {
        while (mag <= raw / 10)
            mag *= 10;
        if (raw <= mag)
            *step = mag;
        else if (raw <= 2 * mag)
            *step = 2 * mag;
        else
            *step = raw <= 5 * mag ? 5 * mag : 10 * mag;
    }
    *top = max > 0 ? (max + *step - 1) / *step * *step : *step;
}

void report_bars_free(report_bars *b)
{
    free(b->label);
    free(b->s[0].v);
    free(b->s[1].v);
    memset(b, 0, sizeof *b);
}

/* Sums the day series into bars of bin days each. */
int report_bars_make(const report_data *d, report_chart chart, report_bars *c)
{
    memset(c, 0, sizeof *c);
    c->ns = 1;
    switch (chart) {
    case CHART_SESSIONS: c->s[0] = (report_series){"sessions", SERIES_USE, NULL}; break;
    case CHART_STROKES: c->s[0] = (report_series){"strokes", SERIES_USE, NULL}; break;
    default:
        c->ns = 2;
        c->s[0] = (report_series){"passed", SERIES_PASS, NULL};
        c->s[1] = (report_series){"failed or aborted", SERIES_FAIL, NULL};
    }
    c->bin = report_chart_bin_days(d);
    c->n = (d->ndays + (size_t)c->bin - 1) / (size_t)c->bin;
    c->label = calloc(c->n ? c->n : 1, sizeof *c->label);
    for (int k = 0; k < c->ns; k++)
        c->s[k].v = calloc(c->n ? c->n : 1, sizeof *c->s[k].v);
    if (!c->label || !c->s[0].v || (c->ns > 1 && !c->s[1].v))
        return -1;
    for (size_t i = 0; i < d->ndays; i++) {
        const report_day *day = &d->days[i];
        size_t b = i / (size_t)c->bin;
        if (i % (size_t)c->bin == 0)
            memcpy(c->label[b], day->date, sizeof c->label[b]);
        switch (chart) {
        case CHART_SESSIONS: c->s[0].v[b] += day->sessions; break;
        case CHART_STROKES: c->s[0].v[b] += day->strokes; break;
        default:
            c->s[0].v[b] += day->cycles_passed;
            c->s[1].v[b] += day->cycles_failed;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        int64_t sum = 0;
        for (int k = 0; k < c->ns; k++)
            sum += c->s[k].v[i];
        if (sum > c->max)
            c->max = sum;
    }
    report_chart_axis(c->max, &c->step, &c->top);
    return 0;
}

size_t report_bars_label_every(const report_bars *b)
{
    size_t every = (b->n + MAX_X_LABELS - 1) / MAX_X_LABELS;
    return every ? every : 1;
}

void report_bars_label(const report_bars *b, size_t i, char out[REPORT_DATE_LEN + 1])
{
    /* A month bar is labelled by its month, a day or week by MM-DD. */
    if (b->bin >= 30)
        snprintf(out, REPORT_DATE_LEN + 1, "%.7s", b->label[i]);
    else
        snprintf(out, REPORT_DATE_LEN + 1, "%.5s", b->label[i] + 5);
}
