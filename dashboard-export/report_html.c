#include "report_html.h"

#include <inttypes.h>

/* Print-first styling: A4 pages, no colours that vanish in greyscale,
 * table header repeated on every printed page. */
static const char css[] =
    "body{font:11pt/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#111}\n"
    "h1{font-size:1.5em;margin-bottom:.2em}\n"
    "h2{font-size:1.15em;margin-top:1.5em;border-bottom:1px solid #999}\n"
    ".period{color:#444;margin-top:0}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "thead{display:table-header-group}\n"
    "th,td{border:1px solid #999;padding:3px 8px;text-align:right}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    "th{background:#eee}\n"
    "tr.total td{font-weight:bold;border-top:2px solid #111}\n"
    ".retired{color:#555;font-style:italic}\n"
    ".alert{font-weight:bold;border-left:4px solid #111;padding-left:.5em}\n"
    "footer{margin-top:2em;font-size:.85em;color:#444}\n"
    "@page{size:A4;margin:15mm}\n"
    "@media print{body{margin:0}tr{page-break-inside:avoid}}\n";

void report_html_text(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*p, out);
        }
    }
}

static void write_head(FILE *out, const report_data *d)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
          "Compliance report: ", out);
    report_html_text(out, d->clinic);
    fputs(", ", out);
    report_html_text(out, d->from);
    fputs(" to ", out);
    report_html_text(out, d->to);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>Compliance report: ", css);
    report_html_text(out, d->clinic);
    fputs("</h1>\n<p class=\"period\">Period ", out);
    report_html_text(out, d->from);
    fputs(" to ", out);
    report_html_text(out, d->to);
    fputs(" (UTC, both days included)</p>\n", out);
}

/* The two numbers an inspector looks for first get their own line. */
static void write_alerts(FILE *out, const report_data *d)
{
    int64_t failed = d->total.count[RC_CYCLES_FAILED];
    int64_t positive = d->total.count[RC_SPORE_POSITIVE];

    if (failed > 0)
        fprintf(out, "<p class=\"alert\">%" PRId64 " sterilization cycle(s) failed or aborted "
                "in this period.</p>\n", failed);
    if (positive > 0)
        fprintf(out, "<p class=\"alert\">%" PRId64 " positive spore test(s): loads since the "
                "last negative test must be recalled (rule R7).</p>\n", positive);
}

static void write_summary(FILE *out, const report_data *d)
{
    fputs("<h2>Summary</h2>\n<ul>\n", out);
    fprintf(out, "<li>Devices: %zu", d->nrows);
    if (d->nretired > 0)
        fprintf(out, " (%zu retired)", d->nretired);
    fputs("</li>\n", out);
    for (int c = 0; c < REPORT_NCOLS; c++) {
        fprintf(out, "<li>%s: %" PRId64 "</li>\n", report_col_title((report_col)c),
                d->total.count[c]);
    }
    fputs("</ul>\n", out);
    write_alerts(out, d);
}

static void write_row(FILE *out, const report_row *row, const char *cls)
{
    fprintf(out, "<tr%s%s%s><td>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    report_html_text(out, row->device_id);
    if (row->retired)
        fputs(" <span class=\"retired\">(retired)</span>", out);
    fputs("</td>", out);
    for (int c = 0; c < REPORT_NCOLS; c++)
        fprintf(out, "<td>%" PRId64 "</td>", row->count[c]);
    fputs("</tr>\n", out);
}

static void write_table(FILE *out, const report_data *d)
{
    fputs("<h2>Per-device usage</h2>\n<table>\n<thead><tr><th>Device</th>", out);
    for (int c = 0; c < REPORT_NCOLS; c++)
        fprintf(out, "<th>%s</th>", report_col_title((report_col)c));
    fputs("</tr></thead>\n<tbody>\n", out);
    for (size_t i = 0; i < d->nrows; i++)
        write_row(out, &d->rows[i], NULL);
    write_row(out, &d->total, "total");
    fputs("</tbody>\n</table>\n", out);
}

int report_html_write(FILE *out, const report_data *d)
{
    write_head(out, d);
    write_summary(out, d);
    write_table(out, d);
    fputs("<footer>Generated at ", out);
    report_html_text(out, d->generated_at);
    fputs(" by smpctl. Records are counted by their device timestamp (UTC); cartridges are "
          "distinct cartridge ids per device.</footer>\n</body>\n</html>\n", out);
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}
