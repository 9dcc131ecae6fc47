#include "report_pdf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hpdf.h>

#include "evidence_text.h"
#include "record.h"
#include "report_chart.h"
#include "report_sterilizers.h"
#include "textwrap.h"
#include "utf8.h"

#define MARGIN      36.0f     /* half an inch all round */
#define FOOTER_Y    20.0f
#define BOTTOM      (MARGIN + 10)  /* lowest baseline area of the body */
#define TABLE_SIZE  7.5f      /* font size in tables */
#define LEADING     9.2f
#define CELL_PAD    2.5f
#define MAX_COLS    20
#define HEADER_LINES 2        /* a column title wraps to at most two lines */
#define MONO_SIZE   6.8f      /* the appendix's record bytes */
#define MONO_LEADING 8.2f
#define CHART_H     150.0f
#define CHART_GAP   10.0f

typedef struct pdf_col {
    const char *title;
    float weight;             /* share of the usable width */
    bool right;               /* right-aligned (numbers) */
} pdf_col;

typedef struct pdf {
    HPDF_Doc doc;
    HPDF_Font regular, bold, mono;
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

/* The cp1252 bytes 0x80..0x9f stand for these characters. */
static const struct { unsigned cp; unsigned char ansi; } cp1252[] = {
    {0x20ac, 0x80}, {0x201a, 0x82}, {0x0192, 0x83}, {0x201e, 0x84}, {0x2026, 0x85},
    {0x2020, 0x86}, {0x2021, 0x87}, {0x02c6, 0x88}, {0x2030, 0x89}, {0x0160, 0x8a},
    {0x2039, 0x8b}, {0x0152, 0x8c}, {0x017d, 0x8e}, {0x2018, 0x91}, {0x2019, 0x92},
    {0x201c, 0x93}, {0x201d, 0x94}, {0x2022, 0x95}, {0x2013, 0x96}, {0x2014, 0x97},
    {0x02dc, 0x98}, {0x2122, 0x99}, {0x0161, 0x9a}, {0x203a, 0x9b}, {0x0153, 0x9c},
    {0x017e, 0x9e}, {0x0178, 0x9f},
};

static unsigned char ansi_of(unsigned cp)
{
    if (cp == '\n')
        return '\n';
    if (cp == '\t')
        return ' ';
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
        return '?';
    if (cp <= 0xff)
        return (unsigned char)cp;
    for (size_t i = 0; i < sizeof cp1252 / sizeof cp1252[0]; i++)
        if (cp1252[i].cp == cp)
            return cp1252[i].ansi;
    return '?';
}

char *report_pdf_ansi(const char *in, char *out)
{
    size_t len = strlen(in), at = 0, n = 0;

    while (at < len) {
        const unsigned char *s = (const unsigned char *)in + at;
        size_t k = utf8_char_len(in + at, len - at);
        unsigned cp;

        if (k == 0) {               /* not well-formed UTF-8: one byte, '?' */
            out[n++] = '?';
            at++;
            continue;
        }
        if (k == 1)
            cp = s[0];
        else if (k == 2)
            cp = (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu);
        else if (k == 3)
            cp = (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
        else
            cp = (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 |
                 (s[3] & 0x3fu);
        out[n++] = (char)ansi_of(cp);
        at += k;
    }
    out[n] = '\0';
    return out;
}

typedef struct metric {
    HPDF_Font font;
    float size;
} metric;

/* textwrap_measure: points. */
static double measure(void *ctx, const char *s, size_t len)
{
    const metric *m = ctx;
    HPDF_TextWidth tw = HPDF_Font_TextWidth(m->font, (const HPDF_BYTE *)s, (HPDF_UINT)len);
    return (double)tw.width * m->size / 1000.0;
}

static float width_of(HPDF_Font f, float size, const char *ansi, size_t len)
{
    metric m = {f, size};
    return (float)measure(&m, ansi, len);
}

/* A text in the font's encoding, broken into lines. */
typedef struct wrapped {
    char *ansi;
    textwrap_line *lines;
    size_t n;
} wrapped;

static void wrapped_free(wrapped *w)
{
    free(w->ansi);
    free(w->lines);
    memset(w, 0, sizeof *w);
}

/* Wraps UTF-8 text for f at size into width points (textwrap: prose, or
 * verbatim). Returns 0, or -1 (p->failed) when out of memory. */
static int wrap(pdf *p, wrapped *w, const char *text, HPDF_Font f, float size, float width,
                bool verbatim)
{
    metric m = {f, size};
    size_t len;

    memset(w, 0, sizeof *w);
    if ((w->ansi = malloc(strlen(text) + 1)) == NULL)
        goto oom;
    report_pdf_ansi(text, w->ansi);
    len = strlen(w->ansi);
    w->n = textwrap(w->ansi, len, width, verbatim, measure, &m, NULL, 0);
    if ((w->lines = malloc(w->n * sizeof *w->lines)) == NULL)
        goto oom;
    textwrap(w->ansi, len, width, verbatim, measure, &m, w->lines, w->n);
    return 0;
oom:
    wrapped_free(w);
    p->failed = true;
    return -1;
}

/* Draws len bytes of ansi text with its baseline at (x, y). */
static void put_span(pdf *p, HPDF_Font f, float size, float x, float y, const char *ansi,
                     size_t len)
{
    char small[512], *text = len < sizeof small ? small : malloc(len + 1);

    if (len == 0)
        return;
    if (text == NULL) {
        p->failed = true;
        return;
    }
    memcpy(text, ansi, len);
    text[len] = '\0';
    HPDF_Page_BeginText(p->page);
    HPDF_Page_SetFontAndSize(p->page, f, size);
    HPDF_Page_TextOut(p->page, x, y, text);
    HPDF_Page_EndText(p->page);
    if (text != small)
        free(text);
}

static void put(pdf *p, HPDF_Font f, float size, float x, float y, const char *ansi)
{
    put_span(p, f, size, x, y, ansi, strlen(ansi));
}

/* UTF-8 text on one line (no wrapping), mapped to the font's encoding. */
static void put_utf8(pdf *p, HPDF_Font f, float size, float x, float y, const char *text)
{
    char *ansi = malloc(strlen(text) + 1);

    if (ansi == NULL) {
        p->failed = true;
        return;
    }
    put(p, f, size, x, y, report_pdf_ansi(text, ansi));
    free(ansi);
}

static float utf8_width(pdf *p, HPDF_Font f, float size, const char *text)
{
    char *ansi = malloc(strlen(text) + 1);
    float w;

    if (ansi == NULL) {
        p->failed = true;
        return 0;
    }
    report_pdf_ansi(text, ansi);
    w = width_of(f, size, ansi, strlen(ansi));
    free(ansi);
    return w;
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

static void hline(pdf *p, float x0, float x1, float y, float gray, float width)
{
    HPDF_Page_SetGrayStroke(p->page, gray);
    HPDF_Page_SetLineWidth(p->page, width);
    HPDF_Page_MoveTo(p->page, x0, y);
    HPDF_Page_LineTo(p->page, x1, y);
    HPDF_Page_Stroke(p->page);
}

static void rule_line(pdf *p, float y, float gray, float width)
{
    hline(p, MARGIN, p->width - MARGIN, y, gray, width);
}

static void fill_rect(pdf *p, float x, float y, float w, float h, float r, float g, float b)
{
    HPDF_Page_SetRGBFill(p->page, r, g, b);
    HPDF_Page_Rectangle(p->page, x, y, w, h);
    HPDF_Page_Fill(p->page);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
}

/* A section heading; on a new page when asked, when the page orientation
 * changes or when less than need points are left under it. */
static void heading(pdf *p, const char *text, bool own_page, bool landscape, float need)
{
    if (own_page || p->y - 30 - need < BOTTOM || landscape != p->landscape)
        new_page(p, landscape);
    else
        p->y -= 10;
    HPDF_Page_SetRGBFill(p->page, 0.12f, 0.37f, 0.55f);
    put_utf8(p, p->bold, 13, MARGIN, p->y - 13, text);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    p->y -= 18;
    rule_line(p, p->y, 0.8f, 0.6f);
    p->y -= 8;
}

static void paragraph(pdf *p, const char *text, float size, HPDF_Font f)
{
    wrapped w;

    if (wrap(p, &w, text, f, size, usable(p), false) != 0)
        return;
    for (size_t i = 0; i < w.n; i++) {
        if (p->y - size * 1.3f < BOTTOM)
            new_page(p, p->landscape);
        put_span(p, f, size, MARGIN, p->y - size, w.ansi + w.lines[i].off, w.lines[i].len);
        p->y -= size * 1.35f;
    }
    p->y -= 4;
    wrapped_free(&w);
}

/* ---- tables ------------------------------------------------------------- */

static void table_header(pdf *p)
{
    float x = MARGIN, h = HEADER_LINES * LEADING + 2 * CELL_PAD;

    fill_rect(p, MARGIN, p->y - h, usable(p), h, 0.91f, 0.93f, 0.95f);
    for (size_t c = 0; c < p->ncols; c++) {
        wrapped w;
        if (wrap(p, &w, p->cols[c].title, p->bold, TABLE_SIZE, p->colw[c] - 2 * CELL_PAD,
                 false) != 0)
            return;
        for (size_t i = 0; i < w.n && i < HEADER_LINES; i++) {
            const char *s = w.ansi + w.lines[i].off;
            float tw = width_of(p->bold, TABLE_SIZE, s, w.lines[i].len);
            put_span(p, p->bold, TABLE_SIZE,
                     p->cols[c].right ? x + p->colw[c] - CELL_PAD - tw : x + CELL_PAD,
                     p->y - CELL_PAD - TABLE_SIZE - (float)i * LEADING, s, w.lines[i].len);
        }
        wrapped_free(&w);
        x += p->colw[c];
    }
    p->y -= h;
    rule_line(p, p->y, 0.55f, 0.6f);
}

/* Whole text lines that fit between y and the bottom of the page. */
static size_t lines_left(const pdf *p)
{
    float room = p->y - BOTTOM - 2 * CELL_PAD;
    return room < LEADING ? 0 : (size_t)(room / LEADING);
}

/* Lines a table row can have on a page that holds only the header. */
static size_t lines_per_page(const pdf *p)
{
    float room = p->height - 2 * MARGIN - 10 - HEADER_LINES * LEADING - 4 * CELL_PAD;
    return room < LEADING ? 1 : (size_t)(room / LEADING);
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
    if (p->y - HEADER_LINES * LEADING - 3 * LEADING < BOTTOM)
        new_page(p, p->landscape);
    table_header(p);
}

/* Lines [from, from + count) of every cell of a row. */
static void draw_row_part(pdf *p, const wrapped *cell, size_t from, size_t count, bool fill)
{
    float x = MARGIN, h = (float)count * LEADING + 2 * CELL_PAD;

    if (fill)
        fill_rect(p, MARGIN, p->y - h, usable(p), h, 0.99f, 0.92f, 0.92f);
    for (size_t c = 0; c < p->ncols; c++) {
        for (size_t i = from; i < from + count && i < cell[c].n; i++) {
            const char *s = cell[c].ansi + cell[c].lines[i].off;
            size_t len = cell[c].lines[i].len;
            float tw = width_of(p->regular, TABLE_SIZE, s, len);
            put_span(p, p->regular, TABLE_SIZE,
                     p->cols[c].right ? x + p->colw[c] - CELL_PAD - tw : x + CELL_PAD,
                     p->y - CELL_PAD - TABLE_SIZE - (float)(i - from) * LEADING + 1.5f, s, len);
        }
        x += p->colw[c];
    }
    p->y -= h;
    rule_line(p, p->y, 0.85f, 0.4f);
}

/* One row; cells[c] are UTF-8 ('\n' breaks a line). fill: a light
 * background for rows that need attention (failed cycle, open alert). A
 * row that does not fit under the last goes to the next page; one taller
 * than a whole page is split over pages; each new page of the table starts
 * with its header. */
static void table_row(pdf *p, const char *const *cells, bool fill)
{
    wrapped cell[MAX_COLS] = {{0}};
    size_t rows = 1, done = 0;

    for (size_t c = 0; c < p->ncols; c++) {
        if (wrap(p, &cell[c], cells[c] ? cells[c] : "", p->regular, TABLE_SIZE,
                 p->colw[c] - 2 * CELL_PAD, false) != 0)
            goto cleanup;
        if (cell[c].n > rows)
            rows = cell[c].n;
    }
    if (rows > lines_left(p) && rows <= lines_per_page(p)) {
        new_page(p, p->landscape);
        table_header(p);
    }
    while (done < rows && !p->failed) {
        size_t room = lines_left(p), count = rows - done < room ? rows - done : room;
        if (count == 0) {
            new_page(p, p->landscape);
            table_header(p);
            continue;
        }
        draw_row_part(p, cell, done, count, fill);
        done += count;
    }
cleanup:
    for (size_t c = 0; c < p->ncols; c++)
        wrapped_free(&cell[c]);
}

static void table_end(pdf *p)
{
    p->cols = NULL;
    p->y -= 6;
}

/* ---- the title and the summary ------------------------------------------ */

static void fmt_int(char out[32], int64_t v)
{
    snprintf(out, 32, "%" PRId64, v);
}

static void title_block(pdf *p)
{
    const report_data *d = p->d;
    char line[768], when[REPORT_LOCAL_LEN + 1];

    new_page(p, false);
    HPDF_Page_SetRGBFill(p->page, 0.12f, 0.37f, 0.55f);
    put(p, p->bold, 8, MARGIN, p->y - 8, "SMPFLEET - SCALP MICROPIGMENTATION");
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    p->y -= 14;
    snprintf(line, sizeof line, "Compliance report: %s", d->clinic_name);
    paragraph(p, line, 18, p->bold);
    /* Who: the clinic as registered (id, address, licence). */
    snprintf(line, sizeof line, "Clinic id %s%s%s%s%s%s", d->clinic,
             d->clinic_address[0] ? " - " : "", d->clinic_address,
             d->clinic_licence[0] ? " - licence " : "", d->clinic_licence,
             d->clinic_registered ? "" : " (clinic not registered: times in UTC)");
    paragraph(p, line, 9.5f, p->regular);
    p->y += 4;
    snprintf(line, sizeof line, "Period %s to %s (local days in %s, both included)", d->from,
             d->to, tzlocal_name(d->zone));
    paragraph(p, line, 9.5f, p->regular);
    p->y += 4;
    report_local_text(d, d->generated_at, when);
    snprintf(line, sizeof line, "Generated %s by smpctl; times are the clinic's local time, "
             "zone named", when);
    paragraph(p, line, 9.5f, p->regular);
    p->y -= 2;
    HPDF_Page_SetRGBStroke(p->page, 0.12f, 0.37f, 0.55f);
    HPDF_Page_SetLineWidth(p->page, 2);
    HPDF_Page_MoveTo(p->page, MARGIN, p->y);
    HPDF_Page_LineTo(p->page, p->width - MARGIN, p->y);
    HPDF_Page_Stroke(p->page);
    p->y -= 8;
}

/* The verdict sentence in a box as tall as its lines. */
static void verdict(pdf *p)
{
    const report_data *d = p->d;
    char text[512];
    float h, size = 9, lead = 11.5f;
    wrapped w;
    bool bad;

    /* The same sentence as every other format (report_verdict). */
    report_verdict(d, text, sizeof text, &bad);
    if (wrap(p, &w, text, p->bold, size, usable(p) - 16, false) != 0)
        return;
    h = (float)w.n * lead + 10;
    if (bad)
        fill_rect(p, MARGIN, p->y - h, usable(p), h, 0.99f, 0.93f, 0.93f);
    else if (d->no_records)
        fill_rect(p, MARGIN, p->y - h, usable(p), h, 0.95f, 0.95f, 0.95f); /* not green */
    else
        fill_rect(p, MARGIN, p->y - h, usable(p), h, 0.93f, 0.97f, 0.94f);
    for (size_t i = 0; i < w.n; i++)
        put_span(p, p->bold, size, MARGIN + 8, p->y - 5 - size - (float)i * lead,
                 w.ansi + w.lines[i].off, w.lines[i].len);
    p->y -= h + 8;
    wrapped_free(&w);
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
                            "Violations", "Maintenance notices (not violations)",
                            "Alerts still open"};
    int64_t vals[] = {(int64_t)d->nrows, d->total.count[RC_SESSIONS],
                      d->total.count[RC_CARTRIDGES], d->total.count[RC_STROKES],
                      d->total.count[RC_CYCLES_PASSED], d->total.count[RC_CYCLES_FAILED],
                      d->total.count[RC_SPORE_TESTS], d->total.count[RC_SPORE_POSITIVE],
                      d->bowie_dick_tests, d->bowie_dick_failed, d->nviolations_counted,
                      d->nnotices, d->open_alerts};

    heading(p, "Summary", false, false, 60);
    verdict(p);
    table_begin(p, cols, 2);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *cells[2] = {labels[i], v[i]};
        fmt_int(v[i], vals[i]);
        table_row(p, cells, false);
    }
    table_end(p);
}

/* ---- charts (report_chart's numbers, as vector paths) ---------------------- */

static void series_fill(pdf *p, report_series_kind kind)
{
    switch (kind) {
    case SERIES_PASS: HPDF_Page_SetRGBFill(p->page, 0.35f, 0.62f, 0.45f); break;
    case SERIES_FAIL: HPDF_Page_SetRGBFill(p->page, 0.75f, 0.22f, 0.17f); break;
    default: HPDF_Page_SetRGBFill(p->page, 0.23f, 0.43f, 0.65f);
    }
}

/* The chart's box and title; legend entries are added right to left. */
static void chart_frame(pdf *p, float x, float top, float w, float h, const char *title)
{
    HPDF_Page_SetGrayStroke(p->page, 0.83f);
    HPDF_Page_SetLineWidth(p->page, 0.5f);
    HPDF_Page_Rectangle(p->page, x, top - h, w, h);
    HPDF_Page_Stroke(p->page);
    put_utf8(p, p->bold, 8, x + 6, top - 12, title);
}

/* One legend entry, a square in the fill colour set before and the name,
 * ending at *right (moved left past it). */
static void legend_entry(pdf *p, float *right, float top, const char *name)
{
    float tw = utf8_width(p, p->regular, 6.5f, name);

    *right -= tw;
    HPDF_Page_Rectangle(p->page, *right - 9, top - 12.5f, 6, 6);
    HPDF_Page_Fill(p->page);
    HPDF_Page_SetGrayFill(p->page, 0.33f);
    put_utf8(p, p->regular, 6.5f, *right, top - 12, name);
    HPDF_Page_SetGrayFill(p->page, 0);
    *right -= 19;
}

static void centred_note(pdf *p, float cx, float y, const char *text)
{
    float tw = utf8_width(p, p->regular, 7, text);

    HPDF_Page_SetGrayFill(p->page, 0.53f);
    put_utf8(p, p->regular, 7, cx - tw / 2, y, text);
    HPDF_Page_SetGrayFill(p->page, 0);
}

static void bar_chart(pdf *p, const report_bars *b, float x, float top, float w, float h,
                      const char *title)
{
    float pl = x + 32, pr = x + w - 8, pt = top - 24, pb = top - h + 16;
    float plot_h = pt - pb, slot = (pr - pl) / (float)(b->n ? b->n : 1);
    float bar_w = slot > 3 ? slot * 0.78f : slot, right = x + w - 6;
    size_t every = report_bars_label_every(b);
    char num[24], label[REPORT_DATE_LEN + 1];

    chart_frame(p, x, top, w, h, title);
    for (int k = b->ns - 1; k >= 0; k--) {
        series_fill(p, b->s[k].kind);
        legend_entry(p, &right, top, b->s[k].name);
    }
    for (int64_t v = 0; v <= b->top; v += b->step) {
        float yy = pb + (float)((double)v / (double)b->top) * plot_h;
        hline(p, pl, pr, yy, 0.9f, 0.4f);
        report_chart_short_number(v, num);
        HPDF_Page_SetGrayFill(p->page, 0.2f);
        put(p, p->regular, 6, pl - 3 - width_of(p->regular, 6, num, strlen(num)), yy - 2, num);
    }
    for (size_t i = 0; i < b->n; i++) {
        float yb = pb;
        for (int k = 0; k < b->ns; k++) {
            float bh = (float)((double)b->s[k].v[i] / (double)b->top) * plot_h;
            if (b->s[k].v[i] == 0)
                continue;
            series_fill(p, b->s[k].kind);
            HPDF_Page_Rectangle(p->page, pl + slot * (float)i + (slot - bar_w) / 2, yb, bar_w,
                                bh);
            HPDF_Page_Fill(p->page);
            yb += bh;
        }
    }
    hline(p, pl, pr, pb, 0.4f, 0.6f);
    HPDF_Page_SetGrayFill(p->page, 0.2f);
    for (size_t i = 0; i < b->n; i += every) {
        report_bars_label(b, i, label);
        put(p, p->regular, 6, pl + slot * ((float)i + 0.5f) -
                                  width_of(p->regular, 6, label, strlen(label)) / 2,
            pb - 9, label);
    }
    HPDF_Page_SetGrayFill(p->page, 0);
    if (b->max == 0)
        centred_note(p, (pl + pr) / 2, (pt + pb) / 2, "nothing recorded in this period");
}

/* Horizontal bars, one per rule: the rule before the bar, its count and
 * title after it (two lines when they need them); the open part darker. */
static void rules_chart(pdf *p, float x, float top, float w, float h)
{
    const report_data *d = p->d;
    float label_w = 24, text_w = w * 0.5f, bar_x = x + label_w + 4;
    float plot_w = w - label_w - text_w - 14, area = h - 30, right = x + w - 6;
    float row_h = d->nrules ? area / (float)d->nrules : area;
    int64_t max = 1;

    if (row_h > 17)
        row_h = 17;
    chart_frame(p, x, top, w, h, "Violations by rule");
    HPDF_Page_SetRGBFill(p->page, 0.70f, 0.15f, 0.12f);
    legend_entry(p, &right, top, "open");
    HPDF_Page_SetRGBFill(p->page, 0.91f, 0.71f, 0.68f);
    legend_entry(p, &right, top, "cleared");
    HPDF_Page_SetGrayFill(p->page, 0);
    if (d->nrules == 0) {
        centred_note(p, x + w / 2, top - h / 2, "no violations in this period");
        return;
    }
    for (size_t i = 0; i < d->nrules; i++)
        if (d->rules[i].count > max)
            max = d->rules[i].count;
    for (size_t i = 0; i < d->nrules; i++) {
        const report_rule_count *r = &d->rules[i];
        float yc = top - 24 - ((float)i + 0.5f) * row_h, bh = row_h * 0.62f;
        float bw = (float)r->count / (float)max * plot_w, ow = (float)r->open / (float)max * plot_w;
        char text[160];
        wrapped t;

        put_utf8(p, p->bold, 7, x + label_w - utf8_width(p, p->bold, 7, r->rule), yc - 2.5f,
                 r->rule);
        fill_rect(p, bar_x, yc - bh / 2, bw, bh, 0.91f, 0.71f, 0.68f);
        if (ow > 0)
            fill_rect(p, bar_x, yc - bh / 2, ow, bh, 0.70f, 0.15f, 0.12f);
        snprintf(text, sizeof text, "%" PRId64 " %s", r->count, report_rule_title(r->rule));
        if (wrap(p, &t, text, p->regular, 6.5f, x + w - 6 - (bar_x + bw + 4), false) != 0)
            return;
        for (size_t k = 0; k < t.n && k < 2; k++)
            put_span(p, p->regular, 6.5f, bar_x + bw + 4,
                     yc - 2.3f + (t.n > 1 ? 3.6f - 7.2f * (float)k : 0),
                     t.ansi + t.lines[k].off, t.lines[k].len);
        wrapped_free(&t);
    }
}

/* The four charts of the HTML's Activity section, two by two. */
static void charts(pdf *p)
{
    static const report_chart day_charts[] = {CHART_SESSIONS, CHART_STROKES, CHART_CYCLES};
    float w = (usable(p) - CHART_GAP) / 2, top;

    heading(p, "Activity", false, false, 2 * CHART_H + CHART_GAP);
    top = p->y;
    for (size_t i = 0; i < 4; i++) {
        float x = MARGIN + (float)(i % 2) * (w + CHART_GAP);
        float t = top - (float)(i / 2) * (CHART_H + CHART_GAP);
        if (i == 3) {
            rules_chart(p, x, t, w, CHART_H);
            continue;
        }
        report_bars b;
        char title[64];
        report_chart_title(p->d, day_charts[i], title, sizeof title);
        if (report_bars_make(p->d, day_charts[i], &b) == 0)
            bar_chart(p, &b, x, t, w, CHART_H, title);
        else
            p->failed = true;
        report_bars_free(&b);
    }
    p->y = top - 2 * CHART_H - CHART_GAP - 6;
}

/* ---- tables of the report ----------------------------------------------- */

static void rules(pdf *p)
{
    static const pdf_col cols[] = {
        {"Rule", 1, false}, {"What it checks", 6, false}, {"Violations", 1.5f, true},
        {"Still open", 1.5f, true}};
    const report_data *d = p->d;
    char a[32], b[32];

    heading(p, "Violations by rule", false, false, 40);
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
    heading(p, "Per-device usage", false, false, 60);
    table_begin(p, cols, REPORT_NCOLS + 1);
    for (size_t i = 0; i <= p->d->nrows; i++) {
        const report_row *row = i < p->d->nrows ? &p->d->rows[i] : &p->d->total;
        snprintf(name, sizeof name, "%s%s%s", row->device_id,
                 row->sterilizer ? " (sterilizer agent)" : "", row->retired ? " (retired)" : "");
        cells[0] = name;
        for (int c = 0; c < REPORT_NCOLS; c++) {
            fmt_int(v[c], row->count[c]);
            cells[c + 1] = v[c];
        }
        table_row(p, cells, false);
    }
    table_end(p);
}

/* The clinic's autoclaves as equipment, as in the HTML. */
static void sterilizers(pdf *p)
{
    static const pdf_col cols[] = {
        {"Sterilizer", 1.6f, false}, {"Model", 1.6f, false}, {"Serial", 1.3f, false},
        {"Logged through", 2.4f, false}, {"Passed", 0.8f, true}, {"Failed", 0.8f, true},
        {"Spore tests", 0.9f, true}};
    const report_data *d = p->d;
    char name[160], logger[IDS_DEVICE_ID_MAX + 64], a[32], b[32], c[32];

    heading(p, "Sterilizers", false, false, 60);
    if (d->nsterilizers == 0) {
        paragraph(p, "No sterilizer is registered to this clinic and no record of the period "
                     "names one.", 9, p->regular);
        return;
    }
    paragraph(p, "The clinic's autoclaves and how each logs its cycles; counts are this "
                 "period's, each cycle once.", 8, p->regular);
    table_begin(p, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < d->nsterilizers; i++) {
        const report_sterilizer *s = &d->sterilizers[i];
        snprintf(name, sizeof name, "%s%s", s->sterilizer_id, s->retired_at[0] ? " (retired)" : "");
        report_sterilizer_logger(s, logger, sizeof logger);
        fmt_int(a, s->cycles_passed);
        fmt_int(b, s->cycles_failed);
        fmt_int(c, s->spore_tests);
        const char *cells[] = {name, s->model, s->serial, logger, a, b, c};
        table_row(p, cells, false);
    }
    table_end(p);
}

/* The evidence cell: the evidence as fields, then each record it cites. */
static char *evidence_cell(const report_data *d, const report_violation *v)
{
    size_t cap = (EVTEXT_MAX + 8) * (v->ncited + 2), n;
    char *out = malloc(cap);

    if (out == NULL)
        return NULL;
    evtext_alert(d->zone, v, out, EVTEXT_MAX);
    n = strlen(out);
    if (v->ncited > 0)
        n += (size_t)snprintf(out + n, cap - n, "\nRecords cited:");
    for (size_t i = 0; i < v->ncited; i++) {
        n += (size_t)snprintf(out + n, cap - n, "\n• ");   /* where a record starts */
        evtext_cited(d->zone, &v->cited[i], out + n, EVTEXT_MAX);
        n += strlen(out + n);
    }
    if (v->nevidence > v->ncited)
        snprintf(out + n, cap - n, "\nand %zu more record(s) named in the evidence",
                 v->nevidence - v->ncited);
    return out;
}

static void violation_row(pdf *p, const report_violation *v)
{
    char when[REPORT_LOCAL_LEN + 1], at[REPORT_LOCAL_LEN + 1], status[300], finding[1200],
        alert[256], subject[IDS_DEVICE_ID_MAX + 80], *evidence;

    report_local_text(p->d, v->raised_at, when);
    report_local_text(p->d, v->cleared_at[0] ? v->cleared_at : v->acked_at, at);
    if (strcmp(v->state, "withdrawn") == 0)
        snprintf(status, sizeof status, "WITHDRAWN %s (not counted)", at);
    else if (v->cleared_at[0])
        snprintf(status, sizeof status, "cleared %s", at);
    else if (v->acked_at[0])
        snprintf(status, sizeof status, "acknowledged by %s, %s", v->acked_by, at);
    else
        snprintf(status, sizeof status, "OPEN");
    /* When, which rule and where: one column, so the finding has room. */
    report_alert_subject(v, subject, sizeof subject);
    snprintf(alert, sizeof alert, "%s\n%s %s\n%s", when, v->rule, v->severity, subject);
    snprintf(finding, sizeof finding, "%s\ncause %s", v->message, v->cause);
    if ((evidence = evidence_cell(p->d, v)) == NULL) {
        p->failed = true;
        return;
    }
    const char *cells[] = {alert, finding, status, evidence};
    table_row(p, cells, v->cleared_at[0] == '\0' && strcmp(v->state, "withdrawn") != 0);
    free(evidence);
}

/* The violations, or (notices) the maintenance notices, as in the HTML. */
static void violations(pdf *p, bool notices)
{
    static const pdf_col cols[] = {
        {"Raised, rule, device", 1.55f, false}, {"Finding", 3.3f, false},
        {"Status", 1.25f, false}, {"Evidence and the records that prove it", 4.6f, false}};
    size_t n = 0;

    for (size_t i = 0; i < p->d->nviolations; i++)
        n += p->d->violations[i].notice == notices;
    heading(p, notices ? "Maintenance notices" : "Violations", !notices, false, 60);
    if (n == 0) {
        paragraph(p, notices ? "No maintenance notice in this period."
                             : "No violation was raised in this period.", 9, p->regular);
        return;
    }
    if (notices)
        paragraph(p, "Cartridge wear (R3), a machine silent during a session (R8) and motor "
                     "service (R11): things to do, not breaches of a rule.", 8, p->regular);
    else
        paragraph(p, "Alerts of the collector's compliance rules raised in the period (or citing "
                     "a record of it), each with its evidence and the stored records that prove "
                     "it, by device and record number (#seq); the records' exact bytes are in the "
                     "appendix. Open alerts are shaded; an alert later evidence disproved is "
                     "shown WITHDRAWN and not counted.", 8, p->regular);
    table_begin(p, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < p->d->nviolations; i++)
        if (p->d->violations[i].notice == notices)
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
        dry[32], bd[64], bi[64], pmin[32], pmax[32], result[160];

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
    snprintf(result, sizeof result, "%s%s%s (sterilizer %s)", c->failed ? "FAILED" : "passed",
             c->r4_failed ? " R4: " : "", c->r4_failed ? c->r4_reasons : "", c->result);
    for (char *u = result; *u; u++)
        if (*u == '_')
            *u = ' ';          /* "chemical_indicator": words people read */
    const char *cells[] = {when, c->sterilizer_id, cycle, c->logged_by, c->load_id, c->program,
                           set, lo, hi, exp, press, dry, c->ci_result, c->operator_id, result,
                           c->alarm_code, bd, bi};
    table_row(p, cells, c->failed);
}

static void sterilizer_log(pdf *p)
{
    static const pdf_col cols[] = {
        {"Date", 1.45f, false}, {"Sterilizer", 1.0f, false}, {"Cycle", 0.7f, true},
        {"Logged by", 1.05f, false}, {"Load", 1.15f, false}, {"Program", 1.2f, false},
        {"Set °C", 0.65f, true}, {"Min °C", 0.65f, true}, {"Max °C", 0.65f, true},
        {"Exp. s", 0.65f, true}, {"Pressure kPa", 1.2f, true}, {"Dry s", 0.6f, true},
        {"CI", 0.5f, false}, {"Operator", 0.9f, false}, {"Result", 1.6f, false},
        {"Alarm", 1.5f, false}, {"Bowie-Dick", 1.05f, false}, {"Spore", 0.9f, false}};
    char note[300];

    heading(p, "Sterilizer log", true, true, 60);
    if (p->d->ncycles == 0) {
        paragraph(p, "No sterilization cycle was recorded in this period.", 9, p->regular);
        return;
    }
    snprintf(note, sizeof note, "Every sterilization cycle recorded in the period (%zu), oldest "
             "first, each once however many devices logged it; temperatures in °C (setpoint, "
             "minimum and maximum during exposure); failed and aborted cycles are shaded.",
             p->d->ncycles);
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

    heading(p, "Spore and Bowie-Dick tests", p->landscape, false, 60);
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

/* ---- the appendix and the signature --------------------------------------- */

/* One record as stored: its name, its SHA-256, and its bytes in Courier,
 * broken only where a line is full (after a comma or space where it can):
 * nothing is added or left out. */
static void raw_record(pdf *p, const report_cited *c)
{
    char head[256], hash[RECORD_HASH_HEX], line[96];
    float text_w = usable(p) - 8, h;
    wrapped w;

    if (wrap(p, &w, c->body, p->mono, MONO_SIZE, text_w, true) != 0)
        return;
    h = 11 + 9 + (float)w.n * MONO_LEADING + 8;
    if (p->y - h < BOTTOM && h < p->height - 2 * MARGIN - 20)
        new_page(p, false);
    snprintf(head, sizeof head, "%s #%" PRId64 " · %s · %s", c->device_id, c->seq, c->type, c->ts);
    put_utf8(p, p->bold, 7.5f, MARGIN, p->y - 8, head);
    record_sha256_hex(c->body, strlen(c->body), hash);
    snprintf(line, sizeof line, "SHA-256 %s", hash);
    HPDF_Page_SetGrayFill(p->page, 0.35f);
    put(p, p->regular, 6.5f, MARGIN, p->y - 17, line);
    HPDF_Page_SetGrayFill(p->page, 0);
    p->y -= 21;
    for (size_t i = 0; i < w.n; i++) {
        if (p->y - MONO_LEADING < BOTTOM)
            new_page(p, false);
        fill_rect(p, MARGIN, p->y - MONO_LEADING, usable(p), MONO_LEADING, 0.96f, 0.965f, 0.97f);
        put_span(p, p->mono, MONO_SIZE, MARGIN + 4, p->y - MONO_LEADING + 2,
                 w.ansi + w.lines[i].off, w.lines[i].len);
        p->y -= MONO_LEADING;
    }
    p->y -= 8;
    wrapped_free(&w);
}

static void appendix(pdf *p)
{
    const report_cited **recs;
    size_t n;

    if (evtext_appendix(p->d, &recs, &n) != 0) {
        p->failed = true;
        return;
    }
    heading(p, "Appendix: the cited records as stored", true, false, 60);
    if (n == 0) {
        paragraph(p, "No alert of this report cites a stored record.", 9, p->regular);
        return;
    }
    paragraph(p, "Every record the evidence cites, by device and record number, in its canonical "
                 "form: the exact bytes the device hashed (SHA-256, shown) and chained into its "
                 "next record's prev. A line ends where the page does; no byte is added or left "
                 "out. Times inside records are UTC.", 8, p->regular);
    for (size_t i = 0; i < n && !p->failed; i++)
        raw_record(p, recs[i]);
    free(recs);
}

/* A line to sign on: the label, and the value above the line (or the line
 * left empty to fill in by hand). */
static void sign_line(pdf *p, float x, float y, float w, const char *label, const char *value)
{
    HPDF_Page_SetGrayFill(p->page, 0.35f);
    put_utf8(p, p->regular, 7.5f, x, y, label);
    HPDF_Page_SetGrayFill(p->page, 0);
    hline(p, x + 52, x + w, y - 2, 0.1f, 0.7f);
    if (value && value[0]) {
        wrapped t;
        if (wrap(p, &t, value, p->regular, 10, w - 56, false) != 0)
            return;
        for (size_t i = 0; i < t.n && i < 2; i++)
            put_span(p, p->regular, 10, x + 54, y + 1 + (float)(t.n > 1 && i == 0 ? 11 : 0),
                     t.ansi + t.lines[i].off, t.lines[i].len);
        wrapped_free(&t);
    }
}

static void who_line(pdf *p, const char *label, const char *value)
{
    wrapped t;

    if (wrap(p, &t, value[0] ? value : "(not registered)", p->regular, 9, usable(p) - 70,
             false) != 0)
        return;
    put_utf8(p, p->bold, 9, MARGIN, p->y - 9, label);
    for (size_t i = 0; i < t.n; i++) {
        put_span(p, p->regular, 9, MARGIN + 70, p->y - 9, t.ansi + t.lines[i].off, t.lines[i].len);
        p->y -= 12;
    }
    wrapped_free(&t);
}

/* The clinic's responsible person signs for the report on its last page:
 * name and role (--signatory, else lines to fill in), the date and the
 * signature by hand: a date printed here would claim a signing that has
 * not happened. */
static void signature(pdf *p)
{
    const report_data *d = p->d;
    float col = (usable(p) - 30) / 2, y;
    char period[160];

    heading(p, "Signature", false, false, 230);
    paragraph(p, "Signed for the clinic by its responsible person, who has reviewed every page "
                 "of this report, the appendix included, and the records it is based on.", 8.5f,
              p->regular);
    who_line(p, "Clinic", d->clinic_name);
    who_line(p, "Licence", d->clinic_licence);
    who_line(p, "Address", d->clinic_address);
    snprintf(period, sizeof period, "%s to %s (local days in %s)", d->from, d->to,
             tzlocal_name(d->zone));
    who_line(p, "Period", period);
    y = p->y - 36;
    sign_line(p, MARGIN, y, col, "Name", d->signatory_name);
    sign_line(p, MARGIN + col + 30, y, col, "Role", d->signatory_role);
    y -= 46;
    sign_line(p, MARGIN, y, col, "Date", NULL);
    sign_line(p, MARGIN + col + 30, y, col, "Signature", NULL);
    p->y = y - 20;
}

/* "page N of M" needs M, so footers go on every page at the end. */
static void footers(pdf *p)
{
    char left[512], *ansi, right[64];

    snprintf(left, sizeof left, "smpfleet compliance report - %s - %s to %s (%s)",
             p->d->clinic_name, p->d->from, p->d->to, tzlocal_name(p->d->zone));
    if ((ansi = malloc(strlen(left) + 1)) == NULL) {
        p->failed = true;
        return;
    }
    report_pdf_ansi(left, ansi);
    for (size_t i = 0; i < p->npages; i++) {
        p->page = p->pages[i];
        p->width = HPDF_Page_GetWidth(p->page);
        HPDF_Page_SetGrayFill(p->page, 0.35f);
        put(p, p->regular, 7, MARGIN, FOOTER_Y, ansi);
        snprintf(right, sizeof right, "Page %zu of %zu", i + 1, p->npages);
        put(p, p->regular, 7, p->width - MARGIN - width_of(p->regular, 7, right, strlen(right)),
            FOOTER_Y, right);
    }
    free(ansi);
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

static int write_pdf(FILE *out, const report_data *d, bool compress)
{
    pdf p = {.d = d};
    char title[256], *ansi = NULL;
    int rc = -1;

    if ((p.doc = HPDF_New(on_error, &p)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    HPDF_SetCompressionMode(p.doc, compress ? HPDF_COMP_ALL : HPDF_COMP_NONE);
    p.regular = HPDF_GetFont(p.doc, "Helvetica", "WinAnsiEncoding");
    p.bold = HPDF_GetFont(p.doc, "Helvetica-Bold", "WinAnsiEncoding");
    p.mono = HPDF_GetFont(p.doc, "Courier", "WinAnsiEncoding");
    snprintf(title, sizeof title, "Compliance report: %s, %s to %s", d->clinic_name, d->from,
             d->to);
    if ((ansi = malloc(strlen(title) + 1)) == NULL)
        goto cleanup;
    HPDF_SetInfoAttr(p.doc, HPDF_INFO_TITLE, report_pdf_ansi(title, ansi));
    HPDF_SetInfoAttr(p.doc, HPDF_INFO_CREATOR, "smpctl (smpfleet)");
    if (p.failed || p.regular == NULL || p.bold == NULL || p.mono == NULL)
        goto cleanup;
    title_block(&p);
    summary(&p);
    charts(&p);
    rules(&p);
    devices(&p);
    sterilizers(&p);
    violations(&p, false);
    violations(&p, true);
    sterilizer_log(&p);
    tests(&p);
    appendix(&p);
    signature(&p);
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
    free(ansi);
    HPDF_Free(p.doc);
    free(p.pages);
    return rc;
}

int report_pdf_write(FILE *out, const report_data *d)
{
    return write_pdf(out, d, true);
}

int report_pdf_write_uncompressed(FILE *out, const report_data *d)
{
    return write_pdf(out, d, false);
}
