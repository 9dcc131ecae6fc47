#include "report_csv.h"

#include "csvcell.h"

void report_csv_field(FILE *out, const char *text)
{
    csv_text(out, text);
}

static void write_row(FILE *out, const report_row *row)
{
    csv_text(out, row->device_id);
    for (int c = 0; c < REPORT_NCOLS; c++) {
        csv_sep(out);
        csv_int(out, row->count[c]);
    }
    csv_end_row(out);
}

int report_csv_write(FILE *out, const report_data *d)
{
    fputs("device_id", out);
    for (int c = 0; c < REPORT_NCOLS; c++) {
        csv_sep(out);
        csv_text(out, report_col_name((report_col)c));
    }
    csv_end_row(out);
    for (size_t i = 0; i < d->nrows; i++)
        write_row(out, &d->rows[i]);
    write_row(out, &d->total);
    /* Flush so a full disk shows up here, not as a silently short file. */
    if (fflush(out) != 0 || ferror(out))
        return -1;
    return 0;
}
