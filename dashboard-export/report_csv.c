#include "report_csv.h"

#include <inttypes.h>
#include <string.h>

void report_csv_field(FILE *out, const char *text)
{
    if (strpbrk(text, ",\"\r\n") == NULL) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

static void write_row(FILE *out, const report_row *row)
{
    report_csv_field(out, row->device_id);
    for (int c = 0; c < REPORT_NCOLS; c++)
        fprintf(out, ",%" PRId64, row->count[c]);
    fputs("\r\n", out);
}

int report_csv_write(FILE *out, const report_data *d)
{
    fputs("device_id", out);
    for (int c = 0; c < REPORT_NCOLS; c++)
        fprintf(out, ",%s", report_col_name((report_col)c));
    fputs("\r\n", out);
    for (size_t i = 0; i < d->nrows; i++)
        write_row(out, &d->rows[i]);
    write_row(out, &d->total);
    /* Flush so a full disk shows up here, not as a silently short file. */
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}
