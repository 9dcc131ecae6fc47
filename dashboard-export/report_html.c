#include "report_html.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "evidence_text.h"
#include "htmltext.h"
#include "record.h"
#include "report_sterilizers.h"
#include "report_svg.h"

/* Screen and print: light fills only (nothing dark to waste toner), A4
 * pages, table headers repeated on every printed page, the long logs on
 * pages of their own. Colours that carry meaning (failed, open) also
 * carry a word, so a greyscale print loses nothing. No url(), no fonts
 * fetched: the file is complete on its own. */
static const char css[] =
    ":root{--ink:#1d2530;--muted:#5b6673;--line:#d3d9df;--soft:#f4f6f8;--accent:#1f5f8b;"
    "--bad:#b3261e;--warn:#9a5b00;--ok:#2e7d4f}\n"
    "*{box-sizing:border-box}\n"
    "body{font:10.5pt/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:0;color:var(--ink);background:#fff}\n"
    "main{max-width:1120px;margin:0 auto;padding:28px 36px 40px}\n"
    "header.doc{border-bottom:3px solid var(--accent);padding-bottom:12px;margin-bottom:6px;"
    "display:flex;justify-content:space-between;align-items:flex-end;gap:24px}\n"
    ".kicker{text-transform:uppercase;letter-spacing:.08em;font-size:8.5pt;color:var(--accent);"
    "font-weight:600}\n"
    "h1{font-size:20pt;margin:2px 0}\n"
    ".period{color:var(--muted);margin:0}\n"
    "dl.meta{margin:0;display:grid;grid-template-columns:auto auto;gap:1px 12px;font-size:9pt;"
    "color:var(--muted)}\n"
    "dl.meta dt{font-weight:600;color:var(--ink);text-align:right}dl.meta dd{margin:0}\n"
    "h2{font-size:13pt;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line);"
    "color:var(--accent)}\n"
    "p.note{color:var(--muted);font-size:9pt;margin:4px 0 8px}\n"
    ".verdict{padding:9px 14px;border:1px solid;border-left-width:6px;border-radius:3px;"
    "margin:10px 0 12px}\n"
    ".verdict.ok{border-color:var(--ok);background:#eef7f1}\n"
    ".verdict.bad{border-color:var(--bad);background:#fbefee}\n"
    ".verdict.none{border-color:#999;background:#f4f4f4}\n"
    ".alert{font-weight:bold;margin:4px 0 0}\n"
    ".tiles{display:grid;grid-template-columns:repeat(5,1fr);gap:8px;margin:8px 0}\n"
    ".tile{border:1px solid var(--line);border-radius:4px;padding:7px 10px;background:var(--soft)}\n"
    ".tile .n{font-size:15pt;font-weight:700;line-height:1.2;overflow-wrap:anywhere}\n"
    ".tile .l{font-size:8pt;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}\n"
    ".tile.bad{border-color:var(--bad);background:#fbefee}.tile.bad .n{color:var(--bad)}\n"
    ".charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}\n"
    "figure{margin:0;border:1px solid var(--line);border-radius:4px;padding:8px 10px}\n"
    "figure.wide{grid-column:1/-1}\n"
    "figcaption{font-weight:600;font-size:9.5pt;margin-bottom:2px}\n"
    "svg.chart{width:100%;height:auto;display:block}\n"
    "svg text{font-size:12px;fill:#333}.ylab,.rlab{text-anchor:end}.xlab,.empty{text-anchor:middle}"
    ".empty{fill:#888}.legend{fill:#555;font-weight:400}.val{font-weight:600}\n"
    ".grid{stroke:#e5e8ec}.axis{stroke:#666}\n"
    ".b-use{fill:#3a6ea5}.b-pass{fill:#5a9e74}.b-fail{fill:#c0392b}.b-rule{fill:#e8b4ae}"
    ".b-open{fill:#b3261e}\n"
    "table{border-collapse:collapse;width:100%;font-size:8.8pt}\n"
    "thead{display:table-header-group}\n"
    "th,td{border:1px solid var(--line);padding:3px 6px;text-align:right;vertical-align:top}\n"
    "th{background:#e8edf2;font-weight:600}\n"
    "th:first-child,td:first-child,th.t,td.t{text-align:left}\n"
    "tbody tr:nth-child(even) td{background:#fafbfc}\n"
    "tr.total td{font-weight:bold;border-top:2px solid var(--ink)}\n"
    "tr.fail td{background:#fbefee}\n"
    "td small,.sub{display:block;color:var(--muted);font-size:7.8pt}\n"
    "td.d{white-space:nowrap}\n"
    "table.viol{table-layout:fixed}table.viol th:nth-child(1){width:10%}"
    "table.viol th:nth-child(2){width:10.5%}table.viol th:nth-child(3){width:11%}"
    "table.viol th:nth-child(4){width:22%}table.viol th:nth-child(5){width:9.5%}"
    "table.viol td{overflow-wrap:anywhere}\n"
    ".badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:7.8pt;font-weight:600;"
    "border:1px solid var(--muted);color:var(--muted);white-space:nowrap}\n"
    ".badge.bad{color:var(--bad);border-color:var(--bad)}.badge.warn{color:var(--warn);"
    "border-color:var(--warn)}.badge.ok{color:var(--ok);border-color:var(--ok)}\n"
    "pre.body{white-space:pre-wrap;word-break:break-all;font:7.6pt/1.3 ui-monospace,"
    "'DejaVu Sans Mono',monospace;margin:2px 0 4px;background:var(--soft);padding:3px 5px;"
    "border-radius:2px;text-align:left}\n"
    ".ev{text-align:left;font-size:8.2pt}.ev .evl{margin:0 0 2px}"
    ".ev .recs{margin:4px 0 1px;color:var(--muted);font-size:7.6pt;text-transform:uppercase;"
    "letter-spacing:.04em}.ev .rec{color:#333;font-size:7.8pt;margin:0 0 2px;padding-left:8px;"
    "border-left:2px solid var(--line)}\n"
    ".raw{margin:0 0 8px;break-inside:avoid}.rawh{font-size:8.5pt}.rawh small{display:inline;"
    "color:var(--muted)}\n"
    "section#signature{break-inside:avoid}\n"
    ".sign{display:grid;grid-template-columns:1fr 1fr;gap:18px 36px;margin:14px 0 4px;"
    "max-width:760px}\n"
    ".sf{display:flex;align-items:flex-end;gap:10px}.sf .sl{font-size:8.5pt;color:var(--muted);"
    "min-width:64px}.sf .sv{flex:1;border-bottom:1px solid var(--ink);min-height:1.6em;"
    "padding:0 4px 1px}.sf.sig .sv{min-height:3.2em}\n"
    "dl.who{display:grid;grid-template-columns:auto 1fr;gap:1px 12px;margin:6px 0;"
    "font-size:9.5pt}dl.who dt{font-weight:600}dl.who dd{margin:0}\n"
    ".retired{color:#555;font-style:italic}\n"
    "footer{margin-top:28px;padding-top:8px;border-top:1px solid var(--line);font-size:8.5pt;"
    "color:var(--muted)}\n"
    "@page{size:A4;margin:14mm 11mm}\n"
    "@media print{main{max-width:none;padding:0}body{font-size:9.5pt}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    ".tile .n{font-size:13pt}h2{break-after:avoid}"
    "figure,tr,.tile,.verdict,#devices,#summary{break-inside:avoid}section.log{break-before:page}"
    /* A violation's evidence can be longer than a page: its row may go on
     * over pages, between lines of evidence, rather than leave half a
     * page empty before it. */
    "table.viol tr{break-inside:auto}.ev .evl,.ev .rec{break-inside:avoid}}\n";

/* A stored ts "2026-11-05T15:12:33.000Z" in the clinic's zone, named:
 * "2026-11-05 07:12 PST". */
static void html_time(FILE *out, const report_data *d, const char *ts)
{
    char local[REPORT_LOCAL_LEN + 1];

    report_local_text(d, ts, local);
    htmltext_write(out, local);
}

/* A ts in a table cell: the local date, the time and zone under it. */
static void html_when(FILE *out, const report_data *d, const char *ts)
{
    char local[REPORT_LOCAL_LEN + 1];

    report_local_text(d, ts, local);
    if (strlen(local) > 11 && local[10] == ' ') {
        fprintf(out, "%.10s<small>", local);
        htmltext_write(out, local + 11);
        fputs("</small>", out);
    } else {
        htmltext_write(out, local);
    }
}

static void td_text(FILE *out, const char *cls, const char *text)
{
    fprintf(out, "<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    htmltext_write(out, text);
    fputs("</td>", out);
}

/* pass / negative are good, fail / positive / aborted / invalid bad. */
static const char *result_class(const char *result)
{
    if (strcmp(result, "pass") == 0 || strcmp(result, "negative") == 0)
        return "ok";
    return "bad";
}

static void badge(FILE *out, const char *cls, const char *text)
{
    fprintf(out, "<span class=\"badge %s\">", cls);
    htmltext_write(out, text);
    fputs("</span>", out);
}

static void meta(FILE *out, const char *term, const char *text)
{
    if (!text[0])
        return;
    fprintf(out, "<dt>%s</dt><dd>", term);
    htmltext_write(out, text);
    fputs("</dd>", out);
}

/* "ac-north, ac-south (not registered)", or "none registered". */
static void write_sterilizer_ids(FILE *out, const report_data *d)
{
    if (d->nsterilizers == 0)
        fputs("none registered", out);
    for (size_t i = 0; i < d->nsterilizers; i++) {
        fputs(i ? ", " : "", out);
        htmltext_write(out, d->sterilizers[i].sterilizer_id);
        if (!d->sterilizers[i].registered)
            fputs(" (not registered)", out);
    }
}

/* Who and where: the clinic as registered (name, id, address, licence),
 * its sterilizers and the zone every time and day of the report is in. */
static void write_head(FILE *out, const report_data *d)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
          "Compliance report: ", out);
    htmltext_write(out, d->clinic_name);
    fputs(", ", out);
    htmltext_write(out, d->from);
    fputs(" to ", out);
    htmltext_write(out, d->to);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<header class=\"doc\">"
                 "<div><div class=\"kicker\">smpfleet &middot; scalp micropigmentation</div>\n"
                 "<h1>Compliance report: ", css);
    htmltext_write(out, d->clinic_name);
    fputs("</h1>\n<p class=\"period\">Period ", out);
    htmltext_write(out, d->from);
    fputs(" to ", out);
    htmltext_write(out, d->to);
    fputs(" (local days in ", out);
    htmltext_write(out, tzlocal_name(d->zone));
    fputs(", both included)</p></div>\n<dl class=\"meta\">", out);
    meta(out, "Clinic", d->clinic_name);
    meta(out, "Clinic id", d->clinic);
    meta(out, "Address", d->clinic_address);
    meta(out, "Licence", d->clinic_licence);
    fputs("<dt>Time zone</dt><dd>", out);
    htmltext_write(out, tzlocal_name(d->zone));
    if (!d->clinic_registered)
        fputs(" (clinic not registered)", out);
    fprintf(out, "</dd><dt>Devices</dt><dd>%zu", d->nrows);
    if (d->nretired > 0)
        fprintf(out, " (%zu retired)", d->nretired);
    fputs("</dd><dt>Sterilizers</dt><dd>", out);
    write_sterilizer_ids(out, d);
    fputs("</dd><dt>Generated</dt><dd>", out);
    html_time(out, d, d->generated_at);
    fputs("</dd></dl>\n</header>\n", out);
}

/* The numbers an inspector looks for first get their own line; the
 * sentence is report_verdict's, the same in every format. */
static void write_alerts(FILE *out, const report_data *d)
{
    int64_t failed = d->total.count[RC_CYCLES_FAILED];
    int64_t positive = d->total.count[RC_SPORE_POSITIVE];
    char text[512];
    bool bad;

    report_verdict(d, text, sizeof text, &bad);
    /* An empty period is not green: nothing was shown to be right. */
    fprintf(out, "<div class=\"verdict %s\"><strong>", bad ? "bad" : d->no_records ? "none" : "ok");
    htmltext_write(out, text);
    fputs("</strong>", out);
    if (failed > 0)
        fprintf(out, "<p class=\"alert\">%" PRId64 " sterilization cycle(s) failed in this "
                "period: below the program's minimum temperature or exposure, chemical indicator "
                "not passed (rule R4), or failed / aborted by the sterilizer.</p>", failed);
    if (positive > 0)
        fprintf(out, "<p class=\"alert\">%" PRId64 " positive spore test(s): loads since the "
                "cycle of the last negative test must be recalled (rule R7).</p>", positive);
    if (d->nnotices > 0)
        fprintf(out, "<p>%" PRId64 " maintenance notice(s) (wear, service, silence): not "
                "violations, listed apart.</p>", d->nnotices);
    fputs("</div>\n", out);
}

/* 182710326 → "182,710,326". */
static void grouped(int64_t n, char out[32])
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%" PRId64, n < 0 ? -n : n), k = 0;

    if (n < 0)
        out[k++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
}

static void tile(FILE *out, const char *label, int64_t n, bool bad)
{
    char num[32];

    grouped(n, num);
    fprintf(out, "<div class=\"tile%s\"><div class=\"n\">%s</div><div class=\"l\">%s"
                 "</div></div>\n", bad ? " bad" : "", num, label);
}

static void write_rule_table(FILE *out, const report_data *d)
{
    if (d->nrules == 0)
        return;
    fputs("<table class=\"rules\">\n<thead><tr><th>Rule</th><th class=\"t\">What it checks</th>"
          "<th>Violations</th><th>Still open</th></tr></thead>\n<tbody>\n", out);
    for (size_t i = 0; i < d->nrules; i++) {
        fputs("<tr>", out);
        td_text(out, NULL, d->rules[i].rule);
        td_text(out, "t", report_rule_title(d->rules[i].rule));
        fprintf(out, "<td>%" PRId64 "</td><td>%" PRId64 "</td></tr>\n", d->rules[i].count,
                d->rules[i].open);
    }
    fputs("</tbody>\n</table>\n", out);
}

static void write_summary(FILE *out, const report_data *d)
{
    const report_row *t = &d->total;

    fputs("<section id=\"summary\">\n<h2>Summary</h2>\n", out);
    write_alerts(out, d);
    fputs("<div class=\"tiles\">\n", out);
    tile(out, "Sessions", t->count[RC_SESSIONS], false);
    tile(out, "Cartridges", t->count[RC_CARTRIDGES], false);
    tile(out, "Strokes", t->count[RC_STROKES], false);
    tile(out, "Cycles passed", t->count[RC_CYCLES_PASSED], false);
    tile(out, "Cycles failed", t->count[RC_CYCLES_FAILED], t->count[RC_CYCLES_FAILED] > 0);
    tile(out, "Spore tests", t->count[RC_SPORE_TESTS], false);
    tile(out, "Spore positive", t->count[RC_SPORE_POSITIVE], t->count[RC_SPORE_POSITIVE] > 0);
    tile(out, "Bowie-Dick tests", d->bowie_dick_tests, d->bowie_dick_failed > 0);
    tile(out, "Violations", d->nviolations_counted, d->nviolations_counted > 0);
    tile(out, "Maintenance notices", d->nnotices, false);
    tile(out, "Open alerts", d->open_alerts, d->open_alerts > 0);
    fputs("</div>\n", out);
    write_rule_table(out, d);
    fputs("</section>\n", out);
}

static void figure(FILE *out, const report_data *d, report_chart chart, bool wide)
{
    char title[64];

    report_chart_title(d, chart, title, sizeof title);
    fprintf(out, "<figure%s><figcaption>%s</figcaption>", wide ? " class=\"wide\"" : "", title);
    report_svg_chart(out, d, chart);
    fputs("</figure>\n", out);
}

static void write_charts(FILE *out, const report_data *d)
{
    fputs("<section id=\"activity\">\n<h2>Activity</h2>\n<div class=\"charts\">\n", out);
    figure(out, d, CHART_SESSIONS, false);
    figure(out, d, CHART_STROKES, false);
    figure(out, d, CHART_CYCLES, false);
    figure(out, d, CHART_RULES, false);
    fputs("</div>\n</section>\n", out);
}

/* Lines of text ('\n' between) as <div class="cls">s. */
static void html_lines(FILE *out, const char *cls, const char *text)
{
    const char *p = text;

    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[EVTEXT_MAX];

        snprintf(line, sizeof line, "%.*s", (int)n, p);
        fprintf(out, "<div class=\"%s\">", cls);
        htmltext_write(out, line);
        fputs("</div>", out);
        if (!nl)
            break;
        p = nl + 1;
    }
}

/* What proves the alert, readable: the evidence as labelled fields, then
 * each record it cites (the raw bytes are in the appendix). */
static void write_evidence(FILE *out, const report_data *d, const report_violation *v)
{
    char text[EVTEXT_MAX];

    html_lines(out, "evl", evtext_alert(d->zone, v, text, sizeof text));
    if (v->ncited == 0)
        return;
    fputs("<div class=\"recs\">Records cited</div>", out);
    for (size_t i = 0; i < v->ncited; i++)
        html_lines(out, "rec", evtext_cited(d->zone, &v->cited[i], text, sizeof text));
    if (v->nevidence > v->ncited)
        fprintf(out, "<div class=\"rec\"><em>and %zu more record(s) named in the evidence"
                     "</em></div>", v->nevidence - v->ncited);
}

static const char *severity_class(const char *severity)
{
    if (strcmp(severity, "warning") == 0)
        return "warn";
    if (strcmp(severity, "maintenance") == 0)
        return "";
    return "bad";
}

static void write_status(FILE *out, const report_data *d, const report_violation *v)
{
    if (strcmp(v->state, "withdrawn") == 0) {
        /* Later evidence disproved it: shown, never counted. */
        badge(out, "", "WITHDRAWN");
        fputs("<small>", out);
        html_time(out, d, v->cleared_at);
        fputs("</small>", out);
    } else if (v->cleared_at[0]) {
        badge(out, "ok", "cleared");
        fputs("<small>", out);
        html_time(out, d, v->cleared_at);
        fputs("</small>", out);
    } else if (v->acked_at[0]) {
        badge(out, "warn", "acknowledged");
        fputs("<small>", out);
        htmltext_write(out, v->acked_by);
        fputs(", ", out);
        html_time(out, d, v->acked_at);
        fputs("</small>", out);
    } else {
        badge(out, "bad", "open");
    }
}

static void write_violation(FILE *out, const report_data *d, const report_violation *v)
{
    fputs("<tr><td class=\"d\">", out);
    html_when(out, d, v->raised_at);
    fputs("</td><td class=\"t\"><strong>", out);
    htmltext_write(out, v->rule);
    fputs("</strong><br>", out);
    badge(out, severity_class(v->severity), v->severity);
    fputs("</td>", out);
    /* An alert about an autoclave is filed under its sterilizer id. */
    char subject[IDS_DEVICE_ID_MAX + 80];
    report_alert_subject(v, subject, sizeof subject);
    td_text(out, "t", subject);
    fputs("<td class=\"t\">", out);
    htmltext_write(out, v->message);
    fputs("<small>cause ", out);
    htmltext_write(out, v->cause);
    fputs("</small></td><td class=\"t\">", out);
    write_status(out, d, v);
    fputs("</td><td class=\"ev\">", out);
    write_evidence(out, d, v);
    fputs("</td></tr>\n", out);
}

/* Violations (withdrawn ones shown as such), or the maintenance notices. */
static void write_violations(FILE *out, const report_data *d, bool notices)
{
    size_t n = 0;

    for (size_t i = 0; i < d->nviolations; i++)
        n += d->violations[i].notice == notices;
    fprintf(out, "<section id=\"%s\">\n<h2>%s</h2>\n", notices ? "notices" : "violations",
            notices ? "Maintenance notices" : "Violations");
    if (n == 0) {
        fprintf(out, "<p>No %s in this period.</p>\n</section>\n",
                notices ? "maintenance notice" : "violation was raised");
        return;
    }
    if (notices)
        fputs("<p class=\"note\">Cartridge wear (R3), a machine silent during a session (R8) and "
              "motor service (R11): things to do, not breaches of a rule.</p>\n", out);
    else
        fputs("<p class=\"note\">Alerts of the collector's compliance rules raised in the period "
              "(or citing a record of it), each with its evidence and the stored records that "
              "prove it, by device and record number (#seq); the records' exact bytes, which the "
              "device's hash chain covers, are in the appendix. An alert later evidence disproved "
              "is shown WITHDRAWN and not counted.</p>\n", out);
    fputs("<table class=\"viol\">\n<thead><tr><th>Raised</th><th class=\"t\">Rule</th>"
          "<th class=\"t\">Device</th><th class=\"t\">Finding</th><th class=\"t\">Status</th>"
          "<th class=\"t\">Evidence and the records that prove it</th></tr></thead>\n"
          "<tbody>\n", out);
    for (size_t i = 0; i < d->nviolations; i++)
        if (d->violations[i].notice == notices)
            write_violation(out, d, &d->violations[i]);
    fputs("</tbody>\n</table>\n</section>\n", out);
}

static void test_cell(FILE *out, const report_data *d, long idx, const char *kind)
{
    if (idx < 0)
        return;
    fprintf(out, "<div>%s ", kind);
    badge(out, result_class(d->tests[idx].result), d->tests[idx].result);
    fputs("</div>", out);
}

static void write_cycle(FILE *out, const report_data *d, const report_cycle *c)
{
    char a[32], b[32], e[32];
    bool ok = !c->failed;

    fprintf(out, "<tr%s><td class=\"d\">", ok ? "" : " class=\"fail\"");
    html_when(out, d, c->ts);
    fputs("</td><td class=\"t\">", out);
    htmltext_write(out, c->sterilizer_id);
    /* One line per cycle, however many devices logged it. */
    fprintf(out, " #%" PRId64 "<small>logged by ", c->cycle_no);
    htmltext_write(out, c->logged_by);
    fputs("</small></td>", out);
    td_text(out, "t", c->load_id);
    td_text(out, "t", c->program);
    report_dec1(c->setpoint_dc, a);
    report_dec1(c->temp_min_dc, b);
    report_dec1(c->temp_max_dc, e);
    fprintf(out, "<td>%s<small>%s&ndash;%s</small></td><td>%" PRId64 "</td>", a, b, e,
            c->exposure_s);
    report_dec1(c->pressure_min_dkpa, a);
    report_dec1(c->pressure_max_dkpa, b);
    fprintf(out, "<td>%s&ndash;%s</td><td>%" PRId64 "</td><td class=\"t\">", a, b, c->dry_s);
    badge(out, result_class(c->ci_result), c->ci_result);
    fputs("</td>", out);
    td_text(out, "t", c->operator_id);
    /* The collector's verdict (R4), and the sterilizer's own beside it. */
    fputs("<td class=\"t\">", out);
    badge(out, ok ? "ok" : "bad", ok ? "passed" : "failed");
    if (c->r4_failed) {
        char reasons[256];
        snprintf(reasons, sizeof reasons, "%s", c->r4_reasons);
        for (char *u = reasons; *u; u++)
            if (*u == '_')
                *u = ' ';      /* "chemical_indicator": words people read */
        fputs("<small>R4: ", out);
        htmltext_write(out, reasons);
        fputs("</small>", out);
    }
    fputs("<small>sterilizer: ", out);
    htmltext_write(out, c->result);
    fputs("</small>", out);
    if (c->alarm_code[0]) {
        fputs("<small>alarm ", out);
        htmltext_write(out, c->alarm_code);
        fputs("</small>", out);
    }
    fputs("</td><td class=\"t\">", out);
    test_cell(out, d, c->bowie_dick, "Bowie-Dick");
    test_cell(out, d, c->spore, "Spore");
    fputs("</td></tr>\n", out);
}

static void write_sterilizer_log(FILE *out, const report_data *d)
{
    fputs("<section id=\"sterilizer-log\" class=\"log\">\n<h2>Sterilizer log</h2>\n", out);
    if (d->ncycles == 0) {
        fputs("<p>No sterilization cycle was recorded in this period.</p>\n</section>\n", out);
        return;
    }
    fprintf(out, "<p class=\"note\">Every sterilization cycle recorded in the period (%zu), "
                 "oldest first, each once however many devices logged it, with the Bowie-Dick "
                 "and spore tests run in it. Temperatures: setpoint, with the minimum and maximum "
                 "measured during exposure.</p>\n"
                 "<table>\n<thead><tr><th>Date</th><th class=\"t\">Sterilizer, cycle</th>"
                 "<th class=\"t\">Load</th><th class=\"t\">Program</th><th>Temp &deg;C</th>"
                 "<th>Exposure s</th><th>Pressure kPa</th><th>Dry s</th><th class=\"t\">CI</th>"
                 "<th class=\"t\">Operator</th><th class=\"t\">Result</th><th class=\"t\">Tests"
                 "</th></tr></thead>\n<tbody>\n", d->ncycles);
    for (size_t i = 0; i < d->ncycles; i++)
        write_cycle(out, d, &d->cycles[i]);
    fputs("</tbody>\n</table>\n</section>\n", out);
}

static void write_test(FILE *out, const report_data *d, const report_test *t)
{
    fprintf(out, "<tr%s><td class=\"d\">", strcmp(t->result, "negative") ? " class=\"fail\"" : "");
    html_when(out, d, t->ts);
    fputs("</td>", out);
    td_text(out, "t", strcmp(t->kind, "spore") == 0 ? "Spore (BI)" : "Bowie-Dick");
    fputs("<td class=\"t\">", out);
    htmltext_write(out, t->sterilizer_id);
    fprintf(out, " #%" PRId64 "<small>", t->cycle_no);
    htmltext_write(out, t->device_id);
    fputs("</small></td>", out);
    td_text(out, "t", t->bi_lot);
    fputs("<td class=\"t\">", out);
    badge(out, result_class(t->result), t->result);
    fputs("</td><td class=\"d\">", out);
    html_when(out, d, t->read_ts);
    fputs("</td></tr>\n", out);
}

static void write_tests(FILE *out, const report_data *d)
{
    fputs("<section id=\"tests\">\n<h2>Spore and Bowie-Dick tests</h2>\n", out);
    if (d->ntests == 0) {
        fputs("<p>No spore or Bowie-Dick test was recorded in this period.</p>\n</section>\n", out);
        return;
    }
    fputs("<table>\n<thead><tr><th>Date</th><th class=\"t\">Test</th>"
          "<th class=\"t\">Sterilizer, cycle</th><th class=\"t\">Indicator lot</th>"
          "<th class=\"t\">Result</th><th>Read</th></tr></thead>\n<tbody>\n", out);
    for (size_t i = 0; i < d->ntests; i++)
        write_test(out, d, &d->tests[i]);
    fputs("</tbody>\n</table>\n</section>\n", out);
}

static void write_row(FILE *out, const report_row *row, const char *cls)
{
    fprintf(out, "<tr%s%s%s><td>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    htmltext_write(out, row->device_id);
    if (row->sterilizer)
        fputs(" <span class=\"retired\">(sterilizer agent)</span>", out);
    if (row->retired)
        fputs(" <span class=\"retired\">(retired)</span>", out);
    fputs("</td>", out);
    for (int c = 0; c < REPORT_NCOLS; c++)
        fprintf(out, "<td>%" PRId64 "</td>", row->count[c]);
    fputs("</tr>\n", out);
}

static void write_table(FILE *out, const report_data *d)
{
    fputs("<section id=\"devices\">\n<h2>Per-device usage</h2>\n<table>\n<thead><tr>"
          "<th>Device</th>", out);
    for (int c = 0; c < REPORT_NCOLS; c++)
        fprintf(out, "<th>%s</th>", report_col_title((report_col)c));
    fputs("</tr></thead>\n<tbody>\n", out);
    for (size_t i = 0; i < d->nrows; i++)
        write_row(out, &d->rows[i], NULL);
    write_row(out, &d->total, "total");
    fputs("</tbody>\n</table>\n</section>\n", out);
}

static void write_sterilizer(FILE *out, const report_data *d, const report_sterilizer *s)
{
    char logger[IDS_DEVICE_ID_MAX + 64];

    fputs("<tr><td>", out);
    htmltext_write(out, s->sterilizer_id);
    if (s->retired_at[0])
        fputs(" <span class=\"retired\">(retired)</span>", out);
    fputs("</td>", out);
    td_text(out, "t", s->model);
    td_text(out, "t", s->serial);
    report_sterilizer_logger(s, logger, sizeof logger);
    td_text(out, "t", logger);
    fputs("<td class=\"d\">", out);
    if (s->added_at[0])
        html_when(out, d, s->added_at);
    fprintf(out, "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td></tr>\n",
            s->cycles_passed, s->cycles_failed, s->spore_tests);
}

/* The clinic's autoclaves as equipment: registered ones, and any other
 * sterilizer id the period's records name. */
static void write_sterilizers(FILE *out, const report_data *d)
{
    fputs("<section id=\"sterilizers\">\n<h2>Sterilizers</h2>\n", out);
    if (d->nsterilizers == 0) {
        fputs("<p>No sterilizer is registered to this clinic (smpctl sterilizer add) and no "
              "record of the period names one.</p>\n</section>\n", out);
        return;
    }
    fputs("<p class=\"note\">The clinic's autoclaves: each logs its cycles through an agent of "
          "its own or through the clinic's machines; counts are this period's, each cycle once."
          "</p>\n<table>\n<thead><tr><th>Sterilizer</th><th class=\"t\">Model</th>"
          "<th class=\"t\">Serial</th><th class=\"t\">Logged through</th><th>Registered</th>"
          "<th>Cycles passed</th><th>Cycles failed</th><th>Spore tests</th></tr></thead>\n"
          "<tbody>\n", out);
    for (size_t i = 0; i < d->nsterilizers; i++)
        write_sterilizer(out, d, &d->sterilizers[i]);
    fputs("</tbody>\n</table>\n</section>\n", out);
}

/* The cited records' canonical bytes, exactly as stored and hashed, by
 * device and seq: what an inspector re-hashes to check a chain. */
static int write_appendix(FILE *out, const report_data *d)
{
    const report_cited **recs;
    char hash[RECORD_HASH_HEX];
    size_t n;

    if (evtext_appendix(d, &recs, &n) != 0)
        return -1;
    fputs("<section id=\"appendix\" class=\"log\">\n<h2>Appendix: the cited records as "
          "stored</h2>\n", out);
    if (n == 0) {
        fputs("<p>No alert of this report cites a stored record.</p>\n</section>\n", out);
        return 0;
    }
    fputs("<p class=\"note\">Every record the evidence above cites, by device and record "
          "number, in its canonical form: the exact bytes the device hashed (SHA-256, shown) "
          "and chained into its next record's prev. Times inside records are UTC.</p>\n", out);
    for (size_t i = 0; i < n; i++) {
        const report_cited *c = recs[i];
        record_sha256_hex(c->body, strlen(c->body), hash);
        fputs("<div class=\"raw\"><div class=\"rawh\"><strong>", out);
        htmltext_write(out, c->device_id);
        fprintf(out, " #%" PRId64 "</strong> &middot; ", c->seq);
        htmltext_write(out, c->type);
        fputs(" &middot; ", out);
        htmltext_write(out, c->ts);
        fprintf(out, " <small>SHA-256 %s</small></div><pre class=\"body\">", hash);
        htmltext_write(out, c->body);
        fputs("</pre></div>\n", out);
    }
    fputs("</section>\n", out);
    free(recs);
    return 0;
}

static void sign_field(FILE *out, const char *cls, const char *label, const char *value)
{
    fprintf(out, "<div class=\"sf%s\"><span class=\"sl\">%s</span><span class=\"sv\">", cls,
            label);
    if (value)
        htmltext_write(out, value);
    fputs("</span></div>\n", out);
}

static void who_field(FILE *out, const char *term, const char *text)
{
    fprintf(out, "<dt>%s</dt><dd>", term);
    if (text[0])
        htmltext_write(out, text);
    else
        fputs("(not registered)", out);
    fputs("</dd>", out);
}

/* The clinic's responsible person signs for the report: name and role
 * (--signatory, else lines to fill in), the date and the signature by
 * hand: a date printed here would claim a signing that has not happened. */
static void write_signature(FILE *out, const report_data *d)
{
    fputs("<section id=\"signature\">\n<h2>Signature</h2>\n<p class=\"note\">Signed for the "
          "clinic by its responsible person, who has reviewed all of this report, the appendix "
          "included, and the records it is based on.</p>\n<dl class=\"who\">", out);
    who_field(out, "Clinic", d->clinic_name);
    who_field(out, "Licence", d->clinic_licence);
    who_field(out, "Address", d->clinic_address);
    fputs("<dt>Period</dt><dd>", out);
    htmltext_write(out, d->from);
    fputs(" to ", out);
    htmltext_write(out, d->to);
    fputs(" (local days in ", out);
    htmltext_write(out, tzlocal_name(d->zone));
    fputs(")</dd></dl>\n<div class=\"sign\">\n", out);
    sign_field(out, "", "Name", d->signatory_name);
    sign_field(out, "", "Role", d->signatory_role);
    sign_field(out, "", "Date", NULL);
    sign_field(out, " sig", "Signature", NULL);
    fputs("</div>\n</section>\n", out);
}

int report_html_write(FILE *out, const report_data *d)
{
    write_head(out, d);
    write_summary(out, d);
    write_charts(out, d);
    write_table(out, d);
    write_sterilizers(out, d);
    write_violations(out, d, false);
    write_violations(out, d, true);
    write_sterilizer_log(out, d);
    write_tests(out, d);
    if (write_appendix(out, d) != 0)
        return -1;
    write_signature(out, d);
    fputs("<footer>Generated at ", out);
    htmltext_write(out, d->generated_at);
    fputs(" by smpctl. Times are the clinic's local time, with the zone named (", out);
    htmltext_write(out, tzlocal_name(d->zone));
    fputs("); days are its local days. Records are counted by their device timestamp; the "
          "records and their evidence keep UTC timestamps. Cartridges are distinct cartridge "
          "ids per device. The inspector's audit export (smpctl export) holds the same logs as "
          "signed CSV files.</footer>\n</main>\n</body>\n</html>\n", out);
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}
