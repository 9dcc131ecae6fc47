#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdopts.h"
#include "db.h"
#include "report_csv.h"
#include "report_data.h"
#include "report_html.h"
#include "report_json.h"
#include "report_pdf.h"

#define ERRLEN 512

/* A new format is one line here plus its writer module. */
static const struct {
    const char *name;
    int (*write)(FILE *out, const report_data *d);
} formats[] = {
    {"csv", report_csv_write},
    {"html", report_html_write},
    {"json", report_json_write},
    {"pdf", report_pdf_write},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: smpctl report --db PATH|URI --clinic C --from YYYY-MM-DD --to YYYY-MM-DD "
                 "--format csv|html|json|pdf [--out FILE] [--signatory \"Name, Role\"]\n"
                 "  --db is a SQLite file, or a postgresql:// URI for PostgreSQL\n"
                 "  --from and --to are days of the clinic's local calendar (its timezone:\n"
                 "  smpctl clinic add; UTC for a clinic not registered), both included\n"
                 "  --signatory names the clinic's responsible person in the HTML and PDF\n"
                 "  signature block; without it the block has lines to fill in by hand\n");
}

void report_now_ts(char out[REPORT_TS_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, REPORT_TS_LEN + 1, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

static int find_format(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0)
            return (int)i;
    fprintf(stderr, "smpctl report: --format '%s' is not supported; use csv, html, json or pdf\n", name);
    return -1;
}

/* A report that stops halfway must not pass for a complete one, so a
 * failed --out file is removed; only a regular file, never a device or
 * pipe the user named (/dev/stdout). */
static int write_report(const char *out_path, int fmt, const report_data *d)
{
    FILE *out = stdout;
    struct stat sb;
    bool regular = false;
    int err = 0;

    if (out_path) {
        /* Reports name clients' sessions: new files are the owner's alone. */
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
            fprintf(stderr, "smpctl report: --out %s: cannot create: %s\n", out_path,
                    strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        regular = fstat(fileno(out), &sb) == 0 && S_ISREG(sb.st_mode);
    }
    errno = 0;
    if (formats[fmt].write(out, d) != 0)
        err = errno ? errno : EIO;
    if (out_path && fclose(out) != 0 && err == 0)
        err = errno ? errno : EIO;
    if (err == 0)
        return 0;
    fprintf(stderr, "smpctl report: %s: write failed: %s\n", out_path ? out_path : "stdout",
            strerror(err));
    if (regular)
        unlink(out_path);
    return -1;
}

/* Reports only read: db_open_readonly creates nothing and changes no
 * schema, so a mistyped --db or an old database is refused and left as it
 * was. */
int report_open_db(const char *cmd, const char *target, sqldb **db)
{
    char err[ERRLEN];

    if (db_open_readonly(target, db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

int report_cmd(int argc, char **argv)
{
    const char *db_path = NULL, *clinic = NULL, *from = NULL, *to = NULL, *format = NULL,
               *out_path = NULL, *signatory = NULL;
    cmdopt opts[] = {{"--db", &db_path, true},   {"--clinic", &clinic, true},
                     {"--from", &from, true},      {"--to", &to, true},
                     {"--format", &format, true},  {"--out", &out_path, false},
                     {"--signatory", &signatory, false}};
    const size_t nopts = sizeof opts / sizeof opts[0];
    char err[ERRLEN], now[REPORT_TS_LEN + 1];
    report_data data = {0};
    sqldb *db = NULL;
    int fmt, rc = 1;

    if (cmdopts_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (cmdopts_parse("report", argc, argv, opts, nopts) != 0) {
        usage(stderr);
        return 2;
    }
    if ((fmt = find_format(format)) < 0)
        return 1;
    /* A PDF on a terminal is binary noise that can reprogram it. */
    if (strcmp(formats[fmt].name, "pdf") == 0 && !out_path && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "smpctl report: --format pdf is binary and stdout is a terminal; give "
                "--out FILE or redirect stdout to a file\n");
        return 2;
    }
    if (report_period_check(from, to, err, sizeof err) != 0 ||
        (signatory && report_signatory_check(signatory, err, sizeof err) != 0)) {
        fprintf(stderr, "smpctl report: %s\n", err);
        return 1;
    }
    if (report_open_db("report", db_path, &db) != 0)
        goto cleanup;
    report_now_ts(now);
    if (report_data_load(db, clinic, from, to, now, &data, err, sizeof err) != 0 ||
        (signatory && report_data_set_signatory(&data, signatory, err, sizeof err) != 0)) {
        fprintf(stderr, "smpctl report: %s\n", err);
        goto cleanup;
    }
    if (write_report(out_path, fmt, &data) != 0)
        goto cleanup;
    rc = 0;

cleanup:
    report_data_free(&data);
    sqldb_close(db);
    return rc;
}
