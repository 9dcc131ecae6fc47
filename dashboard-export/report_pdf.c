#include "report_pdf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hpdf.h>

#define MARGIN      36.0f     /* half an inch all round */
#define FOOTER_Y    20.0f
#define TABLE_SIZE  7.5f      /* font size in tables */
#define LEADING     9.2f
#define CELL_PAD    2.5f
#define MAX_LINES   12        /* per table cell; longer text ends in "..." */
#define LINE_MAX    256
#define MAX_COLS    20
#define TEXT_MAX    2048

typedef struct pdf_col {
    const char *title;
    float weight;             /* share of the usable width */
    bool right;               /* right-aligned (numbers) */
} pdf_col;

typedef struct pdf {
    HPDF_Doc doc;
    HPDF_Font regular, bold;
    HPDF_Page page;
    HPDF_Page *pages;
    size_t npages, cap;
    float y, width, height;   /* of the current page */
    bool landscape;
    const report_data *d;
    bool failed;
    /* The table being drawn, so a page break can repeat its header. */
    const pdf_col *cols;
    size_t ncols;
    float colw[MAX_COLS];
} pdf;

static void HPDF_STDCALL on_error(HPDF_STATUS error, HPDF_STATUS detail, void *user)
{
    (void)error;
    (void)detail;
    ((pdf *)user)->failed = true;
}

/* ---- text --------------------------------------------------------------- */

/* UTF-8 to WinAnsi (cp1252), which the standard fonts use: Latin-1 and a
 * few punctuation marks map, anything else becomes '?'. */
static void to_ansi(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t n = 0;

    while (*s && n + 1 < cap) {
        unsigned cp = *s++;
        if (cp >= 0x80) {
            int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;
            cp &= 0x3fu >> more;
            for (; more > 0 && (*s & 0xc0) == 0x80; more--)
                cp = (cp << 6) | (*s++ & 0x3fu);
            if (cp == 0x2013)
                cp = 0x96;
            else if (cp == 0x2014)
                cp = 0x97;
            else if (cp == 0x2019)
                cp = 0x92;
            else if (cp < 0xa0 || cp > 0xff)
                cp = '?';
        }
        out[n++] = (char)cp;
    }
    out[n] = '\0';
}

static float width_of(HPDF_Font f, float size, const char *ansi, size_t len)
{
    HPDF_TextWidth tw = HPDF_Font_TextWidth(f, (const HPDF_BYTE *)ansi, (HPDF_UINT)len);
    return (float)tw.width * size / 1000.0f;
}

/* Draws ansi text with its baseline at (x, y). */
static void put(pdf *p, HPDF_Font f, float size, float x, float y, const char *ansi)
{
    HPDF_Page_BeginText(p->page);
    HPDF_Page_SetFontAndSize(p->page, f, size);
    HPDF_Page_TextOut(p->page, x, y, ansi);
    HPDF_Page_EndText(p->page);
}

/* Splits ansi text into lines of at most w points, breaking at spaces
 * where it can and inside a word where it must. Returns the line count. */
static int wrap(HPDF_Font f, float size, const char *ansi, float w, char lines[][LINE_MAX], int max)
{
    size_t len = strlen(ansi), at = 0;
    int n = 0;

    while (at < len && n < max) {
        const char *nl = memchr(ansi + at, '\n', len - at);
        size_t seg = nl ? (size_t)(nl - (ansi + at)) : len - at;
        HPDF_REAL real;
        HPDF_UINT fit = HPDF_Font_MeasureText(f, (const HPDF_BYTE *)ansi + at, (HPDF_UINT)seg, w,
                                              size, 0, 0, HPDF_TRUE, &real);
        if (fit == 0 && seg > 0)
            fit = HPDF_Font_MeasureText(f, (const HPDF_BYTE *)ansi + at, (HPDF_UINT)seg, w, size,
                                        0, 0, HPDF_FALSE, &real);
        if (fit == 0)
            fit = 1;
        if (fit > seg)
            fit = (HPDF_UINT)seg;
        if (fit >= LINE_MAX)
            fit = LINE_MAX - 1;
        memcpy(lines[n], ansi + at, fit);
        lines[n][fit] = '\0';
        n++;
        at += fit;
        while (at < len && (ansi[at] == ' ' || (nl && ansi + at == nl)))
            at++;
    }
    if (at < len && n > 0) {
        size_t l = strlen(lines[n - 1]);
        strcpy(lines[n - 1] + (l > LINE_MAX - 5 ? LINE_MAX - 5 : l), "...");
    }
    return n;
}

/* ---- pages -------------------------------------------------------------- */

static float usable(const pdf *p)
{
    return p->width - 2 * MARGIN;
}

static void new_page(pdf *p, bool landscape)
{
    HPDF_Page *grown;

    if (p->npages == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        if ((grown = realloc(p->pages, cap * sizeof *grown)) == NULL) {
            p->failed = true;
            return;
        }
        p->pages = grown;
        p->cap = cap;
    }
    p->page = HPDF_AddPage(p->doc);
    HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4,
                      landscape ? HPDF_PAGE_LANDSCAPE : HPDF_PAGE_PORTRAIT);
    p->pages[p->npages++] = p->page;
    p->landscape = landscape;
    p->width = HPDF_Page_GetWidth(p->page);
    p->height = HPDF_Page_GetHeight(p->page);
    p->y = p->height - MARGIN;
}

static void rule_line(pdf *p, float y, float gray, float width)
{
    HPDF_Page_SetGrayStroke(p->page, gray);
    HPDF_Page_SetLineWidth(p->page, width);
    HPDF_Page_MoveTo(p->page, MARGIN, y);
    HPDF_Page_LineTo(p->page, p->width - MARGIN, y);
    HPDF_Page_Stroke(p->page);
}

static void heading(pdf *p, const char *text, bool own_page, bool landscape)
{
    char ansi[256];

    if (own_page || p->y - 60 < MARGIN + 10 || landscape != p->landscape)
        new_page(p, landscape);
    else
        p->y -= 10;
    to_ansi(text, ansi, sizeof ansi);
    HPDF_Page_SetRGBFill(p->page, 0.12f, 0.37f, 0.55f);
    put(p, p->bold, 13, MARGIN, p->y - 13, ansi);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    p->y -= 18;
    rule_line(p, p->y, 0.8f, 0.6f);
    p->y -= 8;
}

static void paragraph(pdf *p, const char *text, float size, HPDF_Font f)
{
    char ansi[TEXT_MAX], lines[MAX_LINES][LINE_MAX];
    int n;

    to_ansi(text, ansi, sizeof ansi);
    n = wrap(f, size, ansi, usable(p), lines, MAX_LINES);
    for (int i = 0; i < n; i++) {
        if (p->y - size * 1.3f < MARGIN + 10)
            new_page(p, p->landscape);
        put(p, f, size, MARGIN, p->y - size, lines[i]);
        p->y -= size * 1.35f;
    }
    p->y -= 4;
}

/* ---- tables ------------------------------------------------------------- */

static void table_header(pdf *p)
{
    char lines[2][LINE_MAX], ansi[128];
    float x = MARGIN, h = 2 * LEADING + 2 * CELL_PAD;

    HPDF_Page_SetRGBFill(p->page, 0.91f, 0.93f, 0.95f);
    HPDF_Page_Rectangle(p->page, MARGIN, p->y - h, usable(p), h);
    HPDF_Page_Fill(p->page);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    for (size_t c = 0; c < p->ncols; c++) {
        float w = p->colw[c] - 2 * CELL_PAD;
        to_ansi(p->cols[c].title, ansi, sizeof ansi);
        int n = wrap(p->bold, TABLE_SIZE, ansi, w, lines, 2);
        for (int i = 0; i < n; i++) {
            float tw = width_of(p->bold, TABLE_SIZE, lines[i], strlen(lines[i]));
            put(p, p->bold, TABLE_SIZE, p->cols[c].right ? x + p->colw[c] - CELL_PAD - tw : x + CELL_PAD,
                p->y - CELL_PAD - TABLE_SIZE - (float)i * LEADING, lines[i]);
        }
        x += p->colw[c];
    }
    p->y -= h;
    rule_line(p, p->y, 0.55f, 0.6f);
}

static void table_begin(pdf *p, const pdf_col *cols, size_t ncols)
{
    float total = 0;

    p->cols = cols;
    p->ncols = ncols < MAX_COLS ? ncols : MAX_COLS;
    for (size_t c = 0; c < p->ncols; c++)
        total += cols[c].weight;
    for (size_t c = 0; c < p->ncols; c++)
        p->colw[c] = usable(p) * cols[c].weight / total;
    if (p->y - 4 * LEADING < MARGIN + 10)
        new_page(p, p->landscape);
    table_header(p);
}

/* One row; cells[c] are UTF-8. fill: a light background for rows that
 * need attention (failed cycle, positive test). */
static void table_row(pdf *p, const char *const *cells, bool fill)
{
    static char lines[MAX_COLS][MAX_LINES][LINE_MAX];   /* 60 KiB: too big for the stack */
    char ansi[TEXT_MAX];
    int n[MAX_COLS], rows = 1;
    float x = MARGIN, h;

    for (size_t c = 0; c < p->ncols; c++) {
        to_ansi(cells[c] ? cells[c] : "", ansi, sizeof ansi);
        n[c] = wrap(p->regular, TABLE_SIZE, ansi, p->colw[c] - 2 * CELL_PAD, lines[c], MAX_LINES);
        if (n[c] > rows)
            rows = n[c];
    }
    h = (float)rows * LEADING + 2 * CELL_PAD;
    if (p->y - h < MARGIN + 10) {
        new_page(p, p->landscape);
        table_header(p);
    }
    if (fill) {
        HPDF_Page_SetRGBFill(p->page, 0.99f, 0.92f, 0.92f);
        HPDF_Page_Rectangle(p->page, MARGIN, p->y - h, usable(p), h);
        HPDF_Page_Fill(p->page);
        HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    }
    for (size_t c = 0; c < p->ncols; c++) {
        for (int i = 0; i < n[c]; i++) {
            float tw = width_of(p->regular, TABLE_SIZE, lines[c][i], strlen(lines[c][i]));
            put(p, p->regular, TABLE_SIZE,
                p->cols[c].right ? x + p->colw[c] - CELL_PAD - tw : x + CELL_PAD,
                p->y - CELL_PAD - TABLE_SIZE - (float)i * LEADING + 1.5f, lines[c][i]);
        }
        x += p->colw[c];
    }
    p->y -= h;
    rule_line(p, p->y, 0.85f, 0.4f);
}

static void table_end(pdf *p)
{
    p->cols = NULL;
    p->y -= 6;
}

/* ---- sections ----------------------------------------------------------- */

static void fmt_int(char out[32], int64_t v)
{
    snprintf(out, 32, "%" PRId64, v);
}

static void title_block(pdf *p)
{
    const report_data *d = p->d;
    char line[768], ansi[768], when[REPORT_LOCAL_LEN + 1];

    new_page(p, false);
    HPDF_Page_SetRGBFill(p->page, 0.12f, 0.37f, 0.55f);
    put(p, p->bold, 8, MARGIN, p->y - 8, "SMPFLEET - SCALP MICROPIGMENTATION");
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    snprintf(line, sizeof line, "Compliance report: %s", d->clinic_name);
    to_ansi(line, ansi, sizeof ansi);
    put(p, p->bold, 18, MARGIN, p->y - 32, ansi);
    /* Who: the clinic as registered (id, address, licence). */
    snprintf(line, sizeof line, "Clinic id %s%s%s%s%s%s", d->clinic,
             d->clinic_address[0] ? " - " : "", d->clinic_address,
             d->clinic_licence[0] ? " - licence " : "", d->clinic_licence,
             d->clinic_registered ? "" : " (clinic not registered: times in UTC)");
    to_ansi(line, ansi, sizeof ansi);
    put(p, p->regular, 9.5f, MARGIN, p->y - 48, ansi);
    snprintf(line, sizeof line, "Period %s to %s (local days in %s, both included)", d->from,
             d->to, tzlocal_name(d->zone));
    to_ansi(line, ansi, sizeof ansi);
    put(p, p->regular, 9.5f, MARGIN, p->y - 61, ansi);
    report_local_text(d, d->generated_at, when);
    snprintf(line, sizeof line, "Generated %s by smpctl; times are the clinic's local time, "
             "zone named", when);
    to_ansi(line, ansi, sizeof ansi);
    put(p, p->regular, 9.5f, MARGIN, p->y - 74, ansi);
    p->y -= 84;
    HPDF_Page_SetRGBStroke(p->page, 0.12f, 0.37f, 0.55f);
    HPDF_Page_SetLineWidth(p->page, 2);
    HPDF_Page_MoveTo(p->page, MARGIN, p->y);
    HPDF_Page_LineTo(p->page, p->width - MARGIN, p->y);
    HPDF_Page_Stroke(p->page);
    p->y -= 8;
}

static void verdict(pdf *p)
{
    const report_data *d = p->d;
    char text[512];
    bool bad;

    /* The same sentence as every other format (report_verdict). */
    report_verdict(d, text, sizeof text, &bad);
    if (bad)
        HPDF_Page_SetRGBFill(p->page, 0.99f, 0.93f, 0.93f);
    else if (d->no_records)
        HPDF_Page_SetRGBFill(p->page, 0.95f, 0.95f, 0.95f);   /* not green: nothing shown */
    else
        HPDF_Page_SetRGBFill(p->page, 0.93f, 0.97f, 0.94f);
    HPDF_Page_Rectangle(p->page, MARGIN, p->y - 30, usable(p), 30);
    HPDF_Page_Fill(p->page);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    p->y -= 8;
    paragraph(p, text, 9, p->bold);
    p->y -= 10;
}

static void summary(pdf *p)
{
    static const pdf_col cols[] = {{"Key figure", 3, false}, {"Value", 1, true}};
    const report_data *d = p->d;
    char v[16][32];
    const char *labels[] = {"Devices", "Sessions", "Cartridges (distinct per device)",
                            "Needle strokes", "Sterilization cycles passed",
                            "Sterilization cycles failed (R4 or sterilizer)", "Spore tests",
                            "Spore tests positive", "Bowie-Dick tests", "Bowie-Dick tests not negative",
                            "Violations", "Alerts still open"};
    int64_t vals[] = {(int64_t)d->nrows, d->total.count[RC_SESSIONS],
                      d->total.count[RC_CARTRIDGES], d->total.count[RC_STROKES],
                      d->total.count[RC_CYCLES_PASSED], d->total.count[RC_CYCLES_FAILED],
                      d->total.count[RC_SPORE_TESTS], d->total.count[RC_SPORE_POSITIVE],
                      d->bowie_dick_tests, d->bowie_dick_failed, d->nviolations_counted,
                      d->open_alerts};

    heading(p, "Summary", false, false);
    verdict(p);
    table_begin(p, cols, 2);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *cells[2] = {labels[i], v[i]};
        fmt_int(v[i], vals[i]);
        table_row(p, cells, false);
    }
    table_end(p);
}

static void rules(pdf *p)
{
    static const pdf_col cols[] = {
        {"Rule", 1, false}, {"What it checks", 6, false}, {"Violations", 1.5f, true},
        {"Still open", 1.5f, true}};
    const report_data *d = p->d;
    char a[32], b[32];

    heading(p, "Violations by rule", false, false);
    if (d->nrules == 0) {
        paragraph(p, "No violations in this period.", 9, p->regular);
        return;
    }
    table_begin(p, cols, 4);
    for (size_t i = 0; i < d->nrules; i++) {
        const char *cells[4] = {d->rules[i].rule, report_rule_title(d->rules[i].rule), a, b};
        fmt_int(a, d->rules[i].count);
        fmt_int(b, d->rules[i].open);
        table_row(p, cells, false);
    }
    table_end(p);
}

static void devices(pdf *p)
{
    pdf_col cols[REPORT_NCOLS + 1] = {{"Device", 2.2f, false}};
    const char *cells[REPORT_NCOLS + 1];
    char v[REPORT_NCOLS][32], name[96];

    for (int c = 0; c < REPORT_NCOLS; c++)
        cols[c + 1] = (pdf_col){report_col_title((report_col)c), 1, true};
    heading(p, "Per-device usage", false, false);
    table_begin(p, cols, REPORT_NCOLS + 1);
    for (size_t i = 0; i <= p->d->nrows; i++) {
        const report_row *row = i < p->d->nrows ? &p->d->rows[i] : &p->d->total;
        snprintf(name, sizeof name, "%s%s", row->device_id, row->retired ? " (retired)" : "");
        cells[0] = name;
        for (int c = 0; c < REPORT_NCOLS; c++) {
            fmt_int(v[c], row->count[c]);
            cells[c + 1] = v[c];
        }
        table_row(p, cells, false);
    }
    table_end(p);
}

static void violation_row(pdf *p, const report_violation *v)
{
    char when[REPORT_LOCAL_LEN + 1], at[REPORT_LOCAL_LEN + 1], status[200], cited[1024],
        finding[600];
    size_t n = 0;

    report_local_text(p->d, v->raised_at, when);
    report_local_text(p->d, v->cleared_at[0] ? v->cleared_at : v->acked_at, at);
    if (strcmp(v->state, "withdrawn") == 0)
        snprintf(status, sizeof status, "WITHDRAWN %.10s (not counted)", at);
    else if (v->cleared_at[0])
        snprintf(status, sizeof status, "cleared %.10s", at);
    else if (v->acked_at[0])
        snprintf(status, sizeof status, "acknowledged by %s %.10s", v->acked_by, at);
    else
        snprintf(status, sizeof status, "OPEN");
    cited[0] = '\0';
    for (size_t i = 0; i < v->ncited && n < sizeof cited; i++)
        n += (size_t)snprintf(cited + n, sizeof cited - n, "%sseq %" PRId64 " %s", i ? "\n" : "",
                              v->cited[i].seq, v->cited[i].type ? v->cited[i].type : "(not stored)");
    if (v->nevidence > v->ncited && n < sizeof cited)
        snprintf(cited + n, sizeof cited - n, "\n+%zu more", v->nevidence - v->ncited);
    snprintf(finding, sizeof finding, "%s (cause %s)", v->message, v->cause);
    const char *cells[] = {when, v->rule, v->severity, v->device_id, finding, status, cited};
    table_row(p, cells, v->cleared_at[0] == '\0');
}

static void violations(pdf *p)
{
    static const pdf_col cols[] = {
        {"Raised", 1.2f, false}, {"Rule", 0.5f, false}, {"Severity", 0.9f, false},
        {"Device", 1.3f, false}, {"Finding", 3.4f, false}, {"Status", 1.2f, false},
        {"Records that prove it", 1.9f, false}};

    heading(p, "Violations", true, false);
    if (p->d->nviolations == 0) {
        paragraph(p, "No alert was raised in this period.", 9, p->regular);
        return;
    }
    paragraph(p, "Alerts of the collector's compliance rules raised in the period (or citing a "
                 "record of it). The cited records' full bodies are in violations.csv of the audit "
                 "export; open alerts are shaded.", 8, p->regular);
    table_begin(p, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < p->d->nviolations; i++)
        violation_row(p, &p->d->violations[i]);
    table_end(p);
}

static void test_text(const report_data *d, long idx, char out[64])
{
    if (idx < 0)
        snprintf(out, 64, "-");
    else
        snprintf(out, 64, "%s", d->tests[idx].result);
}

static void cycle_row(pdf *p, const report_cycle *c)
{
    char when[REPORT_LOCAL_LEN + 1], cycle[32], set[32], lo[32], hi[32], exp[32], press[80],
        dry[32], bd[64], bi[64], pmin[32], pmax[32];

    report_local_text(p->d, c->ts, when);
    fmt_int(cycle, c->cycle_no);
    report_dec1(c->setpoint_dc, set);
    report_dec1(c->temp_min_dc, lo);
    report_dec1(c->temp_max_dc, hi);
    fmt_int(exp, c->exposure_s);
    report_dec1(c->pressure_min_dkpa, pmin);
    report_dec1(c->pressure_max_dkpa, pmax);
    snprintf(press, sizeof press, "%s-%s", pmin, pmax);
    fmt_int(dry, c->dry_s);
    test_text(p->d, c->bowie_dick, bd);
    test_text(p->d, c->spore, bi);
    /* The collector's verdict first, the sterilizer's own beside it. */
    char result[160];
    snprintf(result, sizeof result, "%s%s%s (sterilizer %s)", c->failed ? "FAILED" : "passed",
             c->r4_failed ? " R4: " : "", c->r4_failed ? c->r4_reasons : "", c->result);
    const char *cells[] = {when, c->sterilizer_id, cycle, c->device_id, c->load_id, c->program,
                           set, lo, hi, exp, press, dry, c->ci_result, c->operator_id, result,
                           c->alarm_code, bd, bi};
    table_row(p, cells, c->failed);
}

static void sterilizer_log(pdf *p)
{
    static const pdf_col cols[] = {
        {"Date", 1.5f, false}, {"Sterilizer", 0.9f, false}, {"Cycle", 0.55f, true},
        {"Device", 1.6f, false}, {"Load", 1.6f, false}, {"Program", 1.1f, false},
        {"Set °C", 0.7f, true}, {"Min °C", 0.7f, true}, {"Max °C", 0.7f, true},
        {"Exp. s", 0.65f, true}, {"Pressure kPa", 1.2f, true}, {"Dry s", 0.6f, true},
        {"CI", 0.5f, false}, {"Operator", 0.9f, false}, {"Result", 1.3f, false},
        {"Alarm", 1.1f, false}, {"Bowie-Dick", 1.05f, false}, {"Spore", 0.9f, false}};
    char note[200];

    heading(p, "Sterilizer log", true, true);
    if (p->d->ncycles == 0) {
        paragraph(p, "No sterilization cycle was recorded in this period.", 9, p->regular);
        return;
    }
    snprintf(note, sizeof note, "Every sterilization cycle recorded in the period (%zu), oldest "
             "first; temperatures in °C (setpoint, minimum and maximum during exposure); failed and aborted cycles are shaded.", p->d->ncycles);
    paragraph(p, note, 8, p->regular);
    table_begin(p, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < p->d->ncycles; i++)
        cycle_row(p, &p->d->cycles[i]);
    table_end(p);
}

static void tests(pdf *p)
{
    static const pdf_col cols[] = {
        {"Date", 1.3f, false}, {"Test", 1, false}, {"Sterilizer", 1, false},
        {"Cycle", 0.6f, true}, {"Device", 1.6f, false}, {"Indicator lot", 1.2f, false},
        {"Result", 1, false}, {"Read", 1.3f, false}};
    char when[REPORT_LOCAL_LEN + 1], read[REPORT_LOCAL_LEN + 1], cycle[32];

    heading(p, "Spore and Bowie-Dick tests", p->landscape, false);
    if (p->d->ntests == 0) {
        paragraph(p, "No spore or Bowie-Dick test was recorded in this period.", 9, p->regular);
        return;
    }
    table_begin(p, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < p->d->ntests; i++) {
        const report_test *t = &p->d->tests[i];
        report_local_text(p->d, t->ts, when);
        report_local_text(p->d, t->read_ts, read);
        fmt_int(cycle, t->cycle_no);
        const char *cells[] = {when, strcmp(t->kind, "spore") == 0 ? "Spore (BI)" : "Bowie-Dick",
                               t->sterilizer_id, cycle, t->device_id, t->bi_lot, t->result, read};
        table_row(p, cells, strcmp(t->result, "negative") != 0);
    }
    table_end(p);
}

/* "page N of M" needs M, so footers go on every page at the end. */
static void footers(pdf *p)
{
    char left[512], ansi[512], right[64];

    snprintf(left, sizeof left, "smpfleet compliance report - %s - %s to %s (%s)",
             p->d->clinic_name, p->d->from, p->d->to, tzlocal_name(p->d->zone));
    to_ansi(left, ansi, sizeof ansi);
    for (size_t i = 0; i < p->npages; i++) {
        p->page = p->pages[i];
        p->width = HPDF_Page_GetWidth(p->page);
        HPDF_Page_SetGrayFill(p->page, 0.35f);
        put(p, p->regular, 7, MARGIN, FOOTER_Y, ansi);
        snprintf(right, sizeof right, "Page %zu of %zu", i + 1, p->npages);
        put(p, p->regular, 7, p->width - MARGIN - width_of(p->regular, 7, right, strlen(right)),
            FOOTER_Y, right);
    }
}

/* Copies the finished document from libharu's memory stream to out. */
static int save(pdf *p, FILE *out)
{
    HPDF_BYTE buf[65536];

    if (HPDF_SaveToStream(p->doc) != HPDF_OK)
        return -1;
    for (;;) {
        HPDF_UINT32 n = sizeof buf;
        HPDF_STATUS st = HPDF_ReadFromStream(p->doc, buf, &n);
        if (n > 0 && fwrite(buf, 1, n, out) != n)
            return -1;
        if (st == HPDF_STREAM_EOF)
            break;
        if (st != HPDF_OK)
            return -1;
    }
    return fflush(out) != 0 || ferror(out) ? -1 : 0;
}

int report_pdf_write(FILE *out, const report_data *d)
{
    pdf p = {.d = d};
    char title[256];
    int rc = -1;

    if ((p.doc = HPDF_New(on_error, &p)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    HPDF_SetCompressionMode(p.doc, HPDF_COMP_ALL);
    p.regular = HPDF_GetFont(p.doc, "Helvetica", "WinAnsiEncoding");
    p.bold = HPDF_GetFont(p.doc, "Helvetica-Bold", "WinAnsiEncoding");
    snprintf(title, sizeof title, "Compliance report: %s, %s to %s", d->clinic_name, d->from,
             d->to);
    HPDF_SetInfoAttr(p.doc, HPDF_INFO_TITLE, title);
    HPDF_SetInfoAttr(p.doc, HPDF_INFO_CREATOR, "smpctl (smpfleet)");
    if (p.failed || p.regular == NULL || p.bold == NULL)
        goto cleanup;
    title_block(&p);
    summary(&p);
    rules(&p);
    devices(&p);
    violations(&p);
    sterilizer_log(&p);
    tests(&p);
    footers(&p);
    if (p.failed)
        goto cleanup;
    /* A libharu failure while saving is not an I/O error of out. */
    rc = save(&p, out);
    if (rc != 0 && p.failed && errno == 0)
        errno = EIO;
cleanup:
    if (rc != 0 && errno == 0)
        errno = EIO;
    HPDF_Free(p.doc);
    free(p.pages);
    return rc;
}
