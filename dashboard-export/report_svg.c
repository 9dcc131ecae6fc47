#include "report_svg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "htmltext.h"

/* Geometry in SVG user units; the HTML scales the chart to its column. */
#define CHART_W 520
#define CHART_H 200
#define PAD_L 56          /* y-axis labels */
#define PAD_R 12
#define PAD_T 26          /* legend */
#define PAD_B 34          /* x-axis labels */
#define MAX_BARS 62
#define MAX_X_LABELS 8
#define RULE_ROW 24
#define RULE_LABEL_W 40           /* "R10" */
#define RULE_TEXT_W 300           /* count and title after the bar */

typedef struct series {
    const char *name;        /* legend and tooltip: "sessions" */
    const char *cls;         /* CSS class of its bars */
    int64_t *v;              /* one value per bar */
} series;

typedef struct bar_chart {
    const char *title;
    size_t n;                /* bars */
    char (*label)[REPORT_DATE_LEN + 1];   /* first day of each bar */
    int bin;                 /* days per bar */
    series s[2];
    int ns;
} bar_chart;

int report_svg_bin_days(const report_data *d)
{
    if (d->ndays <= MAX_BARS)
        return 1;
    return d->ndays <= (size_t)MAX_BARS * 7 ? 7 : 30;
}

/* 12345 → "12.3k", 6500000 → "6.5M": axis labels stay short. */
static void short_number(int64_t v, char out[24])
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

/* A step of 1, 2 or 5 times a power of ten giving about 4 grid lines. */
static int64_t nice_step(int64_t max)
{
    int64_t raw = (max + 3) / 4, mag = 1;

    if (raw < 1)
        return 1;
    while (mag <= raw / 10)
        mag *= 10;
    if (raw <= mag)
        return mag;
    if (raw <= 2 * mag)
        return 2 * mag;
    return raw <= 5 * mag ? 5 * mag : 10 * mag;
}

static void svg_open(FILE *out, int h, const char *title)
{
    fprintf(out, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
                 "preserveAspectRatio=\"xMinYMin meet\"><title>", CHART_W, h);
    htmltext_write(out, title);
    fputs("</title>\n", out);
}

static void legend(FILE *out, const bar_chart *c)
{
    int x = CHART_W - PAD_R;

    for (int i = c->ns - 1; i >= 0; i--) {
        x -= 8 + 7 * (int)strlen(c->s[i].name);
        fprintf(out, "<text class=\"legend\" x=\"%d\" y=\"14\">", x);
        htmltext_write(out, c->s[i].name);
        fprintf(out, "</text><rect class=\"%s\" x=\"%d\" y=\"5\" width=\"10\" height=\"10\"/>\n",
                c->s[i].cls, x - 14);
        x -= 24;
    }
}

static void y_axis(FILE *out, int64_t top, int64_t step, double plot_h)
{
    char num[24];

    for (int64_t v = 0; v <= top; v += step) {
        double y = PAD_T + plot_h - (double)v / (double)top * plot_h;
        short_number(v, num);
        fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                     "<text class=\"ylab\" x=\"%d\" y=\"%.1f\">%s</text>\n",
                PAD_L, y, CHART_W - PAD_R, y, PAD_L - 6, y + 4, num);
    }
}

static void bar_tooltip(FILE *out, const bar_chart *c, size_t i)
{
    fputs("<title>", out);
    htmltext_write(out, c->label[i]);
    if (c->bin > 1)
        fprintf(out, " (%d days)", c->bin);
    for (int k = 0; k < c->ns; k++)
        fprintf(out, "%s %" PRId64 " %s", k ? "," : ":", c->s[k].v[i], c->s[k].name);
    fputs("</title>", out);
}

static void x_labels(FILE *out, const bar_chart *c, double slot, double base)
{
    size_t every = (c->n + MAX_X_LABELS - 1) / MAX_X_LABELS;

    for (size_t i = 0; i < c->n; i += every) {
        /* A month bar is labelled by its month, a day or week by MM-DD. */
        const char *text = c->bin >= 30 ? c->label[i] : c->label[i] + 5;
        int len = c->bin >= 30 ? 7 : 5;
        fprintf(out, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%.*s</text>\n",
                PAD_L + slot * ((double)i + 0.5), base + 16, len, text);
    }
}

static void draw_bars(FILE *out, const bar_chart *c)
{
    double plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double slot = plot_w / (double)(c->n ? c->n : 1), base = PAD_T + plot_h;
    double bar_w = slot > 3 ? slot * 0.78 : slot;
    int64_t max = 0, step, top;

    for (size_t i = 0; i < c->n; i++) {
        int64_t sum = 0;
        for (int k = 0; k < c->ns; k++)
            sum += c->s[k].v[i];
        if (sum > max)
            max = sum;
    }
    step = nice_step(max);
    top = max > 0 ? (max + step - 1) / step * step : step;
    svg_open(out, CHART_H, c->title);
    legend(out, c);
    y_axis(out, top, step, plot_h);
    for (size_t i = 0; i < c->n; i++) {
        double y = base;
        fputs("<g>", out);
        bar_tooltip(out, c, i);
        for (int k = 0; k < c->ns; k++) {
            double h = (double)c->s[k].v[i] / (double)top * plot_h;
            if (c->s[k].v[i] == 0)
                continue;
            y -= h;
            fprintf(out, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>",
                    c->s[k].cls, PAD_L + slot * (double)i + (slot - bar_w) / 2, y, bar_w, h);
        }
        fputs("</g>\n", out);
    }
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", PAD_L,
            base, CHART_W - PAD_R, base);
    x_labels(out, c, slot, base);
    if (max == 0)
        fprintf(out, "<text class=\"empty\" x=\"%d\" y=\"%d\">nothing recorded in this "
                     "period</text>\n", CHART_W / 2, CHART_H / 2);
    fputs("</svg>\n", out);
}

/* Sums the day series into bars of bin days each. */
static int bin_days(const report_data *d, report_chart chart, bar_chart *c)
{
    c->bin = report_svg_bin_days(d);
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
    return 0;
}

void report_svg_title(const report_data *d, report_chart chart, char *out, size_t cap)
{
    int bin = report_svg_bin_days(d);
    const char *unit = bin == 1 ? "day" : bin == 7 ? "week" : "30 days";

    switch (chart) {
    case CHART_SESSIONS: snprintf(out, cap, "Treatment sessions per %s", unit); break;
    case CHART_STROKES: snprintf(out, cap, "Needle strokes per %s", unit); break;
    case CHART_CYCLES: snprintf(out, cap, "Sterilization cycles per %s", unit); break;
    case CHART_RULES: snprintf(out, cap, "Violations by rule"); break;
    }
}

static void day_chart(FILE *out, const report_data *d, report_chart chart, const char *title)
{
    bar_chart c = {.title = title, .ns = 1};

    switch (chart) {
    case CHART_SESSIONS: c.s[0] = (series){"sessions", "b-use", NULL}; break;
    case CHART_STROKES: c.s[0] = (series){"strokes", "b-use", NULL}; break;
    default:
        c.ns = 2;
        c.s[0] = (series){"passed", "b-pass", NULL};
        c.s[1] = (series){"failed or aborted", "b-fail", NULL};
    }
    if (bin_days(d, chart, &c) == 0)
        draw_bars(out, &c);
    else
        fputs("<p>(chart left out: out of memory)</p>\n", out);
    free(c.label);
    free(c.s[0].v);
    free(c.s[1].v);
}

/* Horizontal bars, one per rule: the rule id before the bar, its count
 * and title after it; the open part of each bar darker. */
static void rules_chart(FILE *out, const report_data *d, const char *title)
{
    int h = PAD_T + (int)(d->nrules ? d->nrules : 1) * RULE_ROW + 8;
    double plot_w = CHART_W - RULE_LABEL_W - RULE_TEXT_W - PAD_R;
    int64_t max = 1;

    for (size_t i = 0; i < d->nrules; i++)
        if (d->rules[i].count > max)
            max = d->rules[i].count;
    svg_open(out, h, title);
    fprintf(out, "<rect class=\"b-rule\" x=\"%d\" y=\"5\" width=\"10\" height=\"10\"/>"
                 "<text class=\"legend\" x=\"%d\" y=\"14\">cleared</text>"
                 "<rect class=\"b-open\" x=\"%d\" y=\"5\" width=\"10\" height=\"10\"/>"
                 "<text class=\"legend\" x=\"%d\" y=\"14\">open</text>\n",
            CHART_W - 130, CHART_W - 116, CHART_W - 60, CHART_W - 46);
    if (d->nrules == 0)
        fprintf(out, "<text class=\"empty\" x=\"%d\" y=\"%d\">no violations in this "
                     "period</text>\n", CHART_W / 2, PAD_T + 16);
    for (size_t i = 0; i < d->nrules; i++) {
        const report_rule_count *r = &d->rules[i];
        double y = PAD_T + (double)i * RULE_ROW, w = (double)r->count / (double)max * plot_w;
        double wo = (double)r->open / (double)max * plot_w;
        fprintf(out, "<g><title>%" PRId64 " violation(s) of ", r->count);
        htmltext_write(out, r->rule);
        fprintf(out, ", %" PRId64 " open</title><text class=\"rlab\" x=\"%d\" y=\"%.1f\">",
                r->open, RULE_LABEL_W - 6, y + 14);
        htmltext_write(out, r->rule);
        fprintf(out, "</text><rect class=\"b-rule\" x=\"%d\" y=\"%.1f\" width=\"%.2f\" "
                     "height=\"16\"/><rect class=\"b-open\" x=\"%d\" y=\"%.1f\" "
                     "width=\"%.2f\" height=\"16\"/><text class=\"val\" x=\"%.1f\" "
                     "y=\"%.1f\">%" PRId64 " <tspan class=\"legend\">",
                RULE_LABEL_W, y + 2, w, RULE_LABEL_W, y + 2, wo, RULE_LABEL_W + w + 6, y + 14,
                r->count);
        htmltext_write(out, report_rule_title(r->rule));
        fputs("</tspan></text></g>\n", out);
    }
    fputs("</svg>\n", out);
}

void report_svg_chart(FILE *out, const report_data *d, report_chart chart)
{
    char title[64];

    report_svg_title(d, chart, title, sizeof title);
    if (chart == CHART_RULES)
        rules_chart(out, d, title);
    else
        day_chart(out, d, chart, title);
}
