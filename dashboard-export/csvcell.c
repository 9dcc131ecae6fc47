#include "csvcell.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "report_data.h"

/* The first characters a spreadsheet reads as the start of a formula. */
static bool formula_start(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

void csv_text(FILE *out, const char *text)
{
    bool neutralise = text && formula_start(text[0]);

    if (!text)
        return;
    if (!neutralise && strpbrk(text, ",\"\r\n") == NULL) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    if (neutralise)
        fputc('\'', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void csv_int(FILE *out, int64_t v)
{
    fprintf(out, "%" PRId64, v);
}

void csv_dec1(FILE *out, int64_t tenths)
{
    char text[32];
    report_dec1(tenths, text); /* the one spelling the reports use */
    fputs(text, out);
}

void csv_sep(FILE *out)
{
    fputc(',', out);
}

void csv_end_row(FILE *out)
{
    fputs("\r\n", out);
}
