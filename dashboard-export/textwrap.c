#include "textwrap.h"

/* Widths are sums of character widths: a tolerance keeps a line that
 * fits exactly from being refused by rounding. */
#define SLACK 1e-6

typedef struct wrapper {
    const char *text;
    double width;
    textwrap_measure measure;
    void *ctx;
    textwrap_line *out;
    size_t max, n;
} wrapper;

static void emit(wrapper *w, size_t off, size_t len)
{
    if (w->n < w->max)
        w->out[w->n] = (textwrap_line){off, len};
    w->n++;
}

static double width_of(const wrapper *w, size_t off, size_t len)
{
    return len ? w->measure(w->ctx, w->text + off, len) : 0;
}

/* The most bytes from at (before end) that fit on a line: at least one,
 * so that every line makes progress. */
static size_t cut(const wrapper *w, size_t at, size_t end)
{
    double used = 0;
    size_t k = 0;

    while (at + k < end) {
        double c = width_of(w, at + k, 1);
        if (k > 0 && used + c > w->width + SLACK)
            break;
        used += c;
        k++;
    }
    return k;
}

static bool is_space(char c)
{
    return c == ' ';
}

/* One paragraph [p, e) (no newline inside) as prose: whole words while
 * they fit, the spaces at a break dropped. */
static void prose(wrapper *w, size_t p, size_t e)
{
    const char *t = w->text;
    size_t at = p;

    while (at < e) {
        size_t i = at, end = at, first = at;
        double used = 0;

        while (first < e && is_space(t[first]))
            first++;
        if (first == e) {                  /* only spaces left */
            if (at == p)
                emit(w, p, 0);
            return;
        }
        while (i < e) {
            size_t sp = i, we;
            while (sp < e && is_space(t[sp]))
                sp++;
            we = sp;
            while (we < e && !is_space(t[we]))
                we++;
            if (we == sp)
                break;                     /* trailing spaces */
            double add = width_of(w, i, sp - i) + width_of(w, sp, we - sp);
            if (used + add > w->width + SLACK)
                break;
            used += add;
            end = i = we;
        }
        if (end == at) {
            /* Not even the first word fits: only now is a word cut. */
            size_t we = first;
            while (we < e && !is_space(t[we]))
                we++;
            end = at + cut(w, at, we);
        }
        emit(w, at, end - at);
        at = end;
        while (at < e && is_space(t[at]))
            at++;
    }
}

/* [p, e) verbatim: pieces that end in a space or comma while they fit;
 * nothing dropped. */
static void verbatim(wrapper *w, size_t p, size_t e)
{
    const char *t = w->text;
    size_t at = p;

    while (at < e) {
        size_t i = at, end = at;
        double used = 0;

        while (i < e) {
            size_t pe = i;
            while (pe < e && t[pe] != ' ' && t[pe] != ',')
                pe++;
            if (pe < e)
                pe++;                      /* the separator stays on this line */
            double add = width_of(w, i, pe - i);
            if (used + add > w->width + SLACK)
                break;
            used += add;
            end = i = pe;
        }
        if (end == at) {
            size_t pe = at;
            while (pe < e && t[pe] != ' ' && t[pe] != ',')
                pe++;
            end = at + cut(w, at, pe < e ? pe + 1 : e);
        }
        emit(w, at, end - at);
        at = end;
    }
}

size_t textwrap(const char *text, size_t len, double width, bool verbatim_text,
                textwrap_measure measure, void *ctx, textwrap_line *out, size_t max)
{
    wrapper w = {text, width, measure, ctx, out, max, 0};
    size_t pos = 0;

    if (len == 0) {
        emit(&w, 0, 0);
        return w.n;
    }
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        if (end == pos)
            emit(&w, pos, 0);              /* an empty line */
        else if (verbatim_text)
            verbatim(&w, pos, end);
        else
            prose(&w, pos, end);
        pos = end + 1;
    }
    return w.n;
}
