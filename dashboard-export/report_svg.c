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
#define RULE_ROW 24
#define RULE_LABEL_W 40           /* "R10" */
#define RULE_TEXT_W 300           /* count and title after the bar */

/* CSS class of a series' bars (report_html.c's stylesheet). */
static const char *series_class(report_series_kind kind)
{
    switch (kind) {
    case SERIES_PASS: return "b-pass";
    case SERIES_FAIL: return "b-fail";
    default: return "b-use";
    }
}

static void svg_open(FILE *out, int h, const char *title)
{
    fprintf(out, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
                 "preserveAspectRatio=\"xMinYMin meet\"><title>", CHART_W, h);
    htmltext_write(out, title);
    fputs("</title>\n", out);
}

static void legend(FILE *out, const report_bars *c)
{
    int x = CHART_W - PAD_R;

    for (int i = c->ns - 1; i >= 0; i--) {
        x -= 8 + 7 * (int)strlen(c->s[i].name);
        fprintf(out, "<text class=\"legend\" x=\"%d\" y=\"14\">", x);
        htmltext_write(out, c->s[i].name);
        fprintf(out, "</text><rect class=\"%s\" x=\"%d\" y=\"5\" width=\"10\" height=\"10\"/>\n",
                series_class(c->s[i].kind), x - 14);
        x -= 24;
    }
}

static void y_axis(FILE *out, int64_t top, int64_t step, double plot_h)
{
    char num[24];

    for (int64_t v = 0; v <= top; v += step) {
        double y = PAD_T + plot_h - (double)v / (double)top * plot_h;
        report_chart_short_number(v, num);
        fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                     "<text class=\"ylab\" x=\"%d\" y=\"%.1f\">%s</text>\n",
                PAD_L, y, CHART_W - PAD_R, y, PAD_L - 6, y + 4, num);
    }
}

static void bar_tooltip(FILE *out, const report_bars *c, size_t i)
{
    fputs("<title>", out);
    htmltext_write(out, c->label[i]);
    if (c->bin > 1)
        fprintf(out, " (%d days)", c->bin);
    for (int k = 0; k < c->ns; k++)
        fprintf(out, "%s %" PRId64 " %s", k ? "," : ":", c->s[k].v[i], c->s[k].name);
    fputs("</title>", out);
}

static void x_labels(FILE *out, const report_bars *c, double slot, double base)
{
    size_t every = report_bars_label_every(c);
    char text[REPORT_DATE_LEN + 1];

    for (size_t i = 0; i < c->n; i += every) {
        report_bars_label(c, i, text);
        fprintf(out, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                PAD_L + slot * ((double)i + 0.5), base + 16, text);
    }
}

static void draw_bars(FILE *out, const report_bars *c, const char *title)
{
    double plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double slot = plot_w / (double)(c->n ? c->n : 1), base = PAD_T + plot_h;
    double bar_w = slot > 3 ? slot * 0.78 : slot;

    svg_open(out, CHART_H, title);
    legend(out, c);
    y_axis(out, c->top, c->step, plot_h);
    for (size_t i = 0; i < c->n; i++) {
        double y = base;
        fputs("<g>", out);
        bar_tooltip(out, c, i);
        for (int k = 0; k < c->ns; k++) {
            double h = (double)c->s[k].v[i] / (double)c->top * plot_h;
            if (c->s[k].v[i] == 0)
                continue;
            y -= h;
            fprintf(out, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>",
                    series_class(c->s[k].kind), PAD_L + slot * (double)i + (slot - bar_w) / 2, y,
                    bar_w, h);
        }
        fputs("</g>\n", out);
    }
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", PAD_L,
            base, CHART_W - PAD_R, base);
    x_labels(out, c, slot, base);
    if (c->max == 0)
        fprintf(out, "<text class=\"empty\" x=\"%d\" y=\"%d\">nothing recorded in this "
                     "period</text>\n", CHART_W / 2, CHART_H / 2);
    fputs("</svg>\n", out);
}

static void day_chart(FILE *out, const report_data *d, report_chart chart, const char *title)
{
    report_bars c;

    if (report_bars_make(d, chart, &c) == 0)
        draw_bars(out, &c, title);
    else
        fputs("<p>(chart left out: out of memory)</p>\n", out);
    report_bars_free(&c);
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

    report_chart_title(d, chart, title, sizeof title);
    if (chart == CHART_RULES)
        rules_chart(out, d, title);
    else
        day_chart(out, d, chart, title);
}
