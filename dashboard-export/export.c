#include "export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bundle.h"
#include "cmdopts.h"
#include "db.h"
#include "export_chain.h"
#include "export_logs.h"
#include "report.h"
#include "report_csv.h"
#include "report_data.h"
#include "report_pdf.h"
#include "report_sterilizers.h"

#define ERRLEN 1024
#define MAX_LISTED 16

const char *const export_files[] = {
    "README.txt", "SHA256SUMS", "cartridge_log.csv", "export-pub.pem", "manifest.json",
    "manifest.sig", "procedure_log.csv", "report.csv", "report.pdf", "sterilizer_log.csv",
    "tests.csv", "violations.csv", NULL};

/* A file of the bundle that manifest.json lists. */
typedef struct listed {
    const char *name;
    char sha256[BUNDLE_HEX_LEN];
    uint64_t bytes;
} listed;

typedef struct job {
    sqldb *db;
    const report_data *d;
    chain_status *chains;
    bundle_key *key;
    char pub_pem[BUNDLE_PEM_MAX];
    char fingerprint[BUNDLE_HEX_LEN];
    char tmp[PATH_MAX];            /* the bundle being written */
    listed files[MAX_LISTED];
    size_t nfiles;
    char *err;
    size_t errlen;
} job;

static void usage(FILE *out)
{
    fprintf(out, "usage: smpctl export --db PATH|URI --clinic C --from YYYY-MM-DD --to YYYY-MM-DD "
                 "--out DIR --key EXPORT_KEY.pem [--signatory \"Name, Role\"]\n"
                 "  --db is a SQLite file, or a postgresql:// URI for PostgreSQL\n"
                 "  --signatory names who signs report.pdf for the clinic (smpctl report)\n"
                 "  DIR must not exist or be empty; the key comes from smpctl pki issue-export\n");
}

/* ---- files -------------------------------------------------------------- */

static int path_of(const job *j, const char *name, char out[PATH_MAX])
{
    if (snprintf(out, PATH_MAX, "%s/%s", j->tmp, name) >= PATH_MAX) {
        snprintf(j->err, j->errlen, "path %s/%s is too long; use a shorter --out", j->tmp, name);
        return -1;
    }
    return 0;
}

static FILE *create(job *j, const char *name)
{
    char path[PATH_MAX];
    FILE *f;

    if (path_of(j, name, path) != 0)
        return NULL;
    if ((f = fopen(path, "wx")) == NULL)
        snprintf(j->err, j->errlen, "cannot create %s: %s", path, strerror(errno));
    return f;
}

/* Ends a file the writer filled (write_rc its result): flushed, synced
 * and closed, then listed with its hash unless unlisted. */
static int finish(job *j, FILE *f, const char *name, int write_rc, bool list)
{
    char path[PATH_MAX];
    listed *l;
    int err = write_rc != 0 ? (errno ? errno : EIO) : 0;

    if (err == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        err = errno;
    if (fclose(f) != 0 && err == 0)
        err = errno;
    if (err != 0) {
        if (j->err[0] == '\0')
            snprintf(j->err, j->errlen, "writing %s/%s failed: %s", j->tmp, name, strerror(err));
        return -1;
    }
    if (!list)
        return 0;
    if (j->nfiles == MAX_LISTED) {
        snprintf(j->err, j->errlen, "export: more than %d files to list", MAX_LISTED);
        return -1;
    }
    if (path_of(j, name, path) != 0)
        return -1;
    l = &j->files[j->nfiles];
    l->name = name;
    if (bundle_hash_file(path, l->sha256, &l->bytes, j->err, j->errlen) != 0)
        return -1;
    j->nfiles++;
    return 0;
}

static int write_bytes(job *j, const char *name, const void *data, size_t len, bool list)
{
    FILE *f = create(j, name);

    if (f == NULL)
        return -1;
    errno = 0;
    return finish(j, f, name, fwrite(data, 1, len, f) == len ? 0 : -1, list);
}

/* ---- the bundle's files ------------------------------------------------- */

static int write_reports(job *j)
{
    static const struct {
        const char *name;
        int (*write)(FILE *, const report_data *);
    } writers[] = {
        {"report.pdf", report_pdf_write},
        {"report.csv", report_csv_write},
        {"sterilizer_log.csv", export_sterilizer_csv},
        {"tests.csv", export_tests_csv},
        {"violations.csv", export_violations_csv},
    };

    for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++) {
        FILE *f = create(j, writers[i].name);
        if (f == NULL)
            return -1;
        errno = 0;
        if (finish(j, f, writers[i].name, writers[i].write(f, j->d), true) != 0)
            return -1;
    }
    return 0;
}

static int write_procedures(job *j)
{
    FILE *procs = create(j, "procedure_log.csv"), *carts = NULL;
    int rc;

    if (procs == NULL)
        return -1;
    if ((carts = create(j, "cartridge_log.csv")) == NULL) {
        fclose(procs);
        return -1;
    }
    errno = 0;
    rc = export_procedures(j->db, j->d, procs, carts, j->err, j->errlen);
    if (finish(j, procs, "procedure_log.csv", rc, true) != 0) {
        fclose(carts);
        return -1;
    }
    return finish(j, carts, "cartridge_log.csv", rc, true);
}

/* The clinic's sterilizers, one line each: the equipment the sterilizer
 * log is about. */
static void readme_sterilizers(FILE *f, const report_data *d)
{
    char logger[IDS_DEVICE_ID_MAX + 64];

    fprintf(f, "Sterilizers:%s\n", d->nsterilizers ? "" : " none registered");
    for (size_t i = 0; i < d->nsterilizers; i++) {
        const report_sterilizer *s = &d->sterilizers[i];
        if (!s->registered) {
            fprintf(f, "  %s: not registered (named by the period's records)\n", s->sterilizer_id);
            continue;
        }
        report_sterilizer_logger(s, logger, sizeof logger);
        fprintf(f, "  %s: model %s, serial %s, logged through %s%s\n", s->sterilizer_id,
                s->model[0] ? s->model : "-", s->serial[0] ? s->serial : "-", logger,
                s->retired_at[0] ? ", retired" : "");
    }
}

static int write_readme(job *j)
{
    const report_data *d = j->d;
    FILE *f = create(j, "README.txt");

    if (f == NULL)
        return -1;
    fprintf(f,
            "smpfleet audit export\n"
            "=====================\n\n"
            "Clinic:    %s (id %s%s)\n"
            "Address:   %s\n"
            "Licence:   %s\n"
            "Time zone: %s\n"
            "Period:    %s to %s (local days in %s, both included:\n"
            "           %s to %s UTC)\n"
            "Generated: %s by smpctl export\n",
            d->clinic_name, d->clinic, d->clinic_registered ? "" : ", not registered",
            d->clinic_address[0] ? d->clinic_address : "-",
            d->clinic_licence[0] ? d->clinic_licence : "-", tzlocal_name(d->zone), d->from,
            d->to, tzlocal_name(d->zone), d->from_ts, d->until_ts, d->generated_at);
    readme_sterilizers(f, d);
    fprintf(f,
            "\nFiles\n"
            "  report.pdf          the compliance report, printable\n"
            "  report.csv          per-device usage: one row per device and a TOTAL row\n"
            "  sterilizer_log.csv  every sterilization cycle once (however many devices logged\n"
            "                      it: logged_by), with the Bowie-Dick and spore tests run in it\n"
            "  tests.csv           every spore and Bowie-Dick test\n"
            "  procedure_log.csv   every treatment session (client reference only, never a name)\n"
            "  cartridge_log.csv   every needle cartridge inserted, with lot, expiry and removal\n"
            "  violations.csv      every violation of the compliance rules, with the records\n"
            "                      that prove it\n"
            "  SHA256SUMS          SHA-256 of the files above\n"
            "  manifest.json       size and SHA-256 of every file, the period, and the status\n"
            "                      of each machine's hash-chained record log\n"
            "  manifest.sig        ECDSA P-256 / SHA-256 signature of manifest.json (DER)\n"
            "  export-pub.pem      the public key that checks manifest.sig\n\n"
            "Every row of the logs names the device (device_id) and the record (seq) it comes\n"
            "from. The logs hold the period's local days. Their times are UTC, as the records\n"
            "hold them (time_utc, *_ts), each beside the same time in the clinic's time zone\n"
            "with the zone named (time_local, *_local), as report.pdf shows them.\n\n"
            "How to check this bundle (in this directory)\n"
            "  openssl dgst -sha256 -verify export-pub.pem -signature manifest.sig manifest.json\n"
            "  sha256sum -c SHA256SUMS\n"
            "  grep -c \"$(sha256sum SHA256SUMS | cut -c1-64)\" manifest.json   # prints 1\n"
            "and compare the key's fingerprint with the one the clinic registered with you:\n"
            "  openssl pkey -pubin -in export-pub.pem -outform DER | sha256sum\n"
            "  (this key: %s)\n"
            "Or, with smpfleet installed: smpctl verify <this directory>\n",
            j->fingerprint);
    errno = 0;
    return finish(j, f, "README.txt", ferror(f) ? -1 : 0, true);
}

static int cmp_listed(const void *a, const void *b)
{
    return strcmp(((const listed *)a)->name, ((const listed *)b)->name);
}

/* SHA256SUMS in sha256sum's own format: "<hex>  <name>". */
static int write_sums(job *j)
{
    FILE *f = create(j, "SHA256SUMS");

    if (f == NULL)
        return -1;
    qsort(j->files, j->nfiles, sizeof *j->files, cmp_listed);
    for (size_t i = 0; i < j->nfiles; i++)
        fprintf(f, "%s  %s\n", j->files[i].sha256, j->files[i].name);
    errno = 0;
    return finish(j, f, "SHA256SUMS", ferror(f) ? -1 : 0, true);
}

static bool add_files(cJSON *m, job *j)
{
    cJSON *a = cJSON_AddArrayToObject(m, "files");

    qsort(j->files, j->nfiles, sizeof *j->files, cmp_listed);
    for (size_t i = 0; a && i < j->nfiles; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            return false;
        }
        if (!cJSON_AddStringToObject(o, "name", j->files[i].name) ||
            !cJSON_AddNumberToObject(o, "bytes", (double)j->files[i].bytes) ||
            !cJSON_AddStringToObject(o, "sha256", j->files[i].sha256))
            return false;
    }
    return a != NULL;
}

static bool add_devices(cJSON *m, const job *j)
{
    cJSON *a = cJSON_AddArrayToObject(m, "devices"), *sum;
    int64_t n[4] = {0};
    static const char *const verdicts[] = {"intact", "gaps", "broken", "no records"};

    for (size_t i = 0; a && i < j->d->nrows; i++) {
        cJSON *o = chain_json(&j->chains[i]);
        if (!o || !cJSON_AddBoolToObject(o, "retired", j->d->rows[i].retired) ||
            !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            return false;
        }
        for (int k = 0; k < 4; k++)
            n[k] += strcmp(chain_verdict(&j->chains[i]), verdicts[k]) == 0;
    }
    if (!a || !(sum = cJSON_AddObjectToObject(m, "chains")))
        return false;
    for (int k = 0; k < 4; k++)
        if (!cJSON_AddNumberToObject(sum, verdicts[k], (double)n[k]))
            return false;
    return true;
}

/* The clinic's sterilizers as registered (clinic_details.sterilizers). */
static bool add_sterilizers(cJSON *clinic, const report_data *d)
{
    cJSON *a = cJSON_AddArrayToObject(clinic, "sterilizers");

    for (size_t i = 0; a && i < d->nsterilizers; i++) {
        const report_sterilizer *s = &d->sterilizers[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            return false;
        }
        if (!cJSON_AddStringToObject(o, "sterilizer_id", s->sterilizer_id) ||
            !cJSON_AddBoolToObject(o, "registered", s->registered) ||
            !cJSON_AddStringToObject(o, "model", s->model) ||
            !cJSON_AddStringToObject(o, "serial", s->serial) ||
            !(s->device_id[0] ? cJSON_AddStringToObject(o, "device_id", s->device_id)
                              : cJSON_AddNullToObject(o, "device_id")) ||
            !cJSON_AddStringToObject(o, "added_at", s->added_at) ||
            !(s->retired_at[0] ? cJSON_AddStringToObject(o, "retired_at", s->retired_at)
                               : cJSON_AddNullToObject(o, "retired_at")))
            return false;
    }
    return a != NULL;
}

static char *manifest_text(job *j)
{
    const report_data *d = j->d;
    cJSON *m = cJSON_CreateObject(), *clinic, *period, *sig;
    char *text = NULL;

    if (m && cJSON_AddStringToObject(m, "format", "smpfleet-audit-export") &&
        cJSON_AddNumberToObject(m, "version", 1) &&
        cJSON_AddStringToObject(m, "clinic", d->clinic) &&
        (clinic = cJSON_AddObjectToObject(m, "clinic_details")) &&
        cJSON_AddBoolToObject(clinic, "registered", d->clinic_registered) &&
        cJSON_AddStringToObject(clinic, "name", d->clinic_name) &&
        cJSON_AddStringToObject(clinic, "address", d->clinic_address) &&
        cJSON_AddStringToObject(clinic, "licence", d->clinic_licence) &&
        cJSON_AddStringToObject(clinic, "timezone", tzlocal_name(d->zone)) &&
        add_sterilizers(clinic, d) &&
        (period = cJSON_AddObjectToObject(m, "period")) &&
        cJSON_AddStringToObject(period, "from", d->from) &&
        cJSON_AddStringToObject(period, "to", d->to) &&
        cJSON_AddStringToObject(period, "timezone", tzlocal_name(d->zone)) &&
        cJSON_AddStringToObject(period, "from_utc", d->from_ts) &&
        cJSON_AddStringToObject(period, "until_utc", d->until_ts) &&
        cJSON_AddStringToObject(m, "generated_at", d->generated_at) &&
        cJSON_AddStringToObject(m, "generator", "smpctl export") && add_files(m, j) &&
        add_devices(m, j) && (sig = cJSON_AddObjectToObject(m, "signature")) &&
        cJSON_AddStringToObject(sig, "file", "manifest.sig") &&
        cJSON_AddStringToObject(sig, "algorithm", "ECDSA P-256 over SHA-256, DER") &&
        cJSON_AddStringToObject(sig, "public_key", "export-pub.pem") &&
        cJSON_AddStringToObject(sig, "public_key_sha256", j->fingerprint))
        text = cJSON_Print(m);
    cJSON_Delete(m);
    return text;
}

/* manifest.json, its signature and the public key: the last three. */
static int write_signed(job *j)
{
    unsigned char sig[BUNDLE_SIG_MAX];
    size_t siglen = 0, len;
    char *text = manifest_text(j), *doc;
    int rc = -1;

    if (text == NULL) {
        snprintf(j->err, j->errlen, "export: out of memory writing manifest.json");
        return -1;
    }
    len = strlen(text);
    if ((doc = malloc(len + 2)) == NULL) {
        cJSON_free(text);
        snprintf(j->err, j->errlen, "export: out of memory writing manifest.json");
        return -1;
    }
    memcpy(doc, text, len);
    doc[len++] = '\n';
    cJSON_free(text);
    if (write_bytes(j, "manifest.json", doc, len, false) == 0 &&
        bundle_sign(j->key, doc, len, sig, sizeof sig, &siglen, j->err, j->errlen) == 0 &&
        write_bytes(j, "manifest.sig", sig, siglen, false) == 0 &&
        write_bytes(j, "export-pub.pem", j->pub_pem, strlen(j->pub_pem), false) == 0)
        rc = 0;
    free(doc);
    return rc;
}

/* ---- the directory ------------------------------------------------------ */

static bool dir_empty(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *e;
    bool empty = true;

    if (dir == NULL)
        return false;
    while (empty && (e = readdir(dir)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(dir);
    return empty;
}

/* DIR may be new or an empty directory; anything else is refused. */
static int check_out(const char *out, char *err, size_t errlen)
{
    struct stat st;

    if (lstat(out, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "--out %s: %s", out, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || !dir_empty(out)) {
        snprintf(err, errlen, "--out %s exists and is not an empty directory; give a new "
                 "directory (smpctl export never overwrites)", out);
        return -1;
    }
    return 0;
}

/* The temporary directory beside out (same file system, so rename works). */
static int make_tmp(job *j, const char *out)
{
    if (snprintf(j->tmp, sizeof j->tmp, "%s.tmp-XXXXXX", out) >= (int)sizeof j->tmp) {
        snprintf(j->err, j->errlen, "--out %s: path too long", out);
        return -1;
    }
    if (mkdtemp(j->tmp) == NULL) {
        snprintf(j->err, j->errlen, "cannot create a directory beside --out %s: %s; check that "
                 "its parent exists and is writable", out, strerror(errno));
        j->tmp[0] = '\0';
        return -1;
    }
    /* mkdtemp's 0700 is kept: the bundle lists clients' procedures, and
     * its owner decides who else may read it. */
    return 0;
}

static void remove_tmp(const char *tmp)
{
    char path[PATH_MAX];
    DIR *dir;
    struct dirent *e;

    if (tmp[0] == '\0' || (dir = opendir(tmp)) == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    closedir(dir);
    rmdir(tmp);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY), rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Renames the finished bundle to out (replacing it only if it is still an
 * empty directory: rename(2) refuses a non-empty one) and syncs both. */
static int publish(job *j, const char *out)
{
    char parent[PATH_MAX];
    char *slash;

    if (fsync_path(j->tmp) != 0 || rename(j->tmp, out) != 0) {
        snprintf(j->err, j->errlen, "cannot move the bundle to --out %s: %s", out,
                 strerror(errno));
        return -1;
    }
    j->tmp[0] = '\0';
    snprintf(parent, sizeof parent, "%s", out);
    slash = strrchr(parent, '/');
    if (slash == NULL)
        snprintf(parent, sizeof parent, ".");
    else
        slash[slash == parent] = '\0';
    fsync_path(parent);
    return 0;
}

/* ---- the command -------------------------------------------------------- */

static int write_bundle(job *j)
{
    if (bundle_public(j->key, j->pub_pem, sizeof j->pub_pem, j->fingerprint, j->err,
                      j->errlen) != 0 ||
        chain_check(j->db, j->d, &j->chains, j->err, j->errlen) != 0)
        return -1;
    if (write_readme(j) != 0 || write_reports(j) != 0 || write_procedures(j) != 0 ||
        write_sums(j) != 0 || write_signed(j) != 0)
        return -1;
    return 0;
}

static void print_result(const job *j, const char *out)
{
    size_t problems = 0;

    for (size_t i = 0; i < j->d->nrows; i++) {
        const char *v = chain_verdict(&j->chains[i]);
        if (strcmp(v, "intact") == 0 || strcmp(v, "no records") == 0)
            continue;
        problems++;
        fprintf(stderr, "smpctl export: warning: device %s: record chain %s in the period "
                "(details in manifest.json)\n", j->chains[i].device_id, v);
    }
    printf("smpctl export: wrote %s: %zu files for %s, %s to %s; %zu device(s), %zu with chain "
           "problems; key fingerprint %s\n", out, j->nfiles + 3, j->d->clinic, j->d->from,
           j->d->to, j->d->nrows, problems, j->fingerprint);
}

static char *strip_slashes(const char *path)
{
    char *p = strdup(path);
    size_t n = p ? strlen(p) : 0;

    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    return p;
}

static int run(const char *db_path, const char *clinic, const char *from, const char *to,
               const char *out, const char *key_path, const char *signatory)
{
    char err[ERRLEN] = "", now[REPORT_TS_LEN + 1];
    report_data data = {0};
    job j = {.d = &data, .err = err, .errlen = sizeof err};
    bool in_snapshot = false;
    int rc = 1;

    if (report_period_check(from, to, err, sizeof err) != 0 ||
        (signatory && report_signatory_check(signatory, err, sizeof err) != 0) ||
        bundle_key_open(key_path, &j.key, err, sizeof err) != 0 ||
        check_out(out, err, sizeof err) != 0)
        goto cleanup;
    if (report_open_db("export", db_path, &j.db) != 0)
        goto cleanup;
    /* One snapshot for every file, however long the export takes. */
    if (sqldb_begin(j.db, SQLDB_SNAPSHOT) != 0) {
        db_error(j.db, "begin a read snapshot", err, sizeof err);
        goto cleanup;
    }
    in_snapshot = true;
    report_now_ts(now);
    if (report_data_read(j.db, clinic, from, to, now, &data, err, sizeof err) != 0 ||
        (signatory && report_data_set_signatory(&data, signatory, err, sizeof err) != 0) ||
        make_tmp(&j, out) != 0 || write_bundle(&j) != 0)
        goto cleanup;
    in_snapshot = false;
    if (sqldb_commit(j.db) != 0) {
        db_error(j.db, "end the read snapshot", err, sizeof err);
        goto cleanup;
    }
    if (publish(&j, out) != 0)
        goto cleanup;
    print_result(&j, out);
    rc = 0;
cleanup:
    if (rc != 0 && err[0])
        fprintf(stderr, "smpctl export: %s\n", err);
    remove_tmp(j.tmp);
    free(j.chains);
    report_data_free(&data);
    bundle_key_free(j.key);
    if (in_snapshot)
        sqldb_rollback(j.db);
    sqldb_close(j.db);
    return rc;
}

int export_cmd(int argc, char **argv)
{
    const char *db_path = NULL, *clinic = NULL, *from = NULL, *to = NULL, *out = NULL,
               *key = NULL, *signatory = NULL;
    cmdopt opts[] = {{"--db", &db_path, true},   {"--clinic", &clinic, true},
                     {"--from", &from, true},    {"--to", &to, true},
                     {"--out", &out, true},      {"--key", &key, true},
                     {"--signatory", &signatory, false}};
    char *dir;
    int rc;

    if (cmdopts_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (cmdopts_parse("export", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0) {
        usage(stderr);
        return 2;
    }
    if ((dir = strip_slashes(out)) == NULL) {
        fprintf(stderr, "smpctl export: out of memory\n");
        return 1;
    }
    rc = run(db_path, clinic, from, to, dir, key, signatory);
    free(dir);
    return rc;
}
