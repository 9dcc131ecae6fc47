#include "device_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmdopts.h"
#include "db.h"
#include "ids.h"
#include "registry.h"

#define ERRLEN 512

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl device add <id> --clinic C --db PATH [--model M] [--serial S] [--cert FILE]\n"
            "       smpctl device list --db PATH [--clinic C]\n"
            "       smpctl device retire <id> --db PATH\n");
}

static void now_ts(char out[REGISTRY_TS_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, REGISTRY_TS_LEN + 1, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* Reads a whole PEM file as a NUL-terminated string (caller frees). */
static char *read_cert_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "smpctl device add: --cert %s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(REGISTRY_CERT_MAX + 2);
    if (buf == NULL) {
        fprintf(stderr, "smpctl device add: --cert %s: out of memory\n", path);
        goto fail;
    }
    n = fread(buf, 1, REGISTRY_CERT_MAX + 1, f);
    if (ferror(f)) {
        fprintf(stderr, "smpctl device add: --cert %s: read error\n", path);
        goto fail;
    }
    if (n > REGISTRY_CERT_MAX) {
        fprintf(stderr, "smpctl device add: --cert %s: larger than %d bytes; give the device "
                "certificate alone\n", path, REGISTRY_CERT_MAX);
        goto fail;
    }
    /* A NUL inside means binary (DER) input; PEM is text. */
    if (memchr(buf, '\0', n) != NULL) {
        fprintf(stderr, "smpctl device add: --cert %s: binary file; give the PEM form "
                "('openssl x509 -inform der -in %s')\n", path, path);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;

fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* list and retire must not create a database by accident on a mistyped
 * path, which db_open would do. */
static int open_existing(const char *cmd, const char *path, sqlite3 **db)
{
    char err[ERRLEN];

    if (access(path, F_OK) != 0) {
        fprintf(stderr, "smpctl %s: --db %s: no such database; check the path (the collector "
                "or 'smpctl device add' creates it)\n", cmd, path);
        return -1;
    }
    if (db_open(path, db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* Options are checked before the database is touched so that a mistake
 * costs nothing; messages name the option. */
static int check_add_args(const registry_new *dev)
{
    char why[ERRLEN];

    if (!ids_valid_device_id(dev->device_id, why, sizeof why)) {
        fprintf(stderr, "smpctl device add: device id '%s': %s\n", dev->device_id, why);
        return -1;
    }
    if (registry_check_text("--clinic", dev->clinic, why, sizeof why) != 0 ||
        (dev->model && registry_check_text("--model", dev->model, why, sizeof why) != 0) ||
        (dev->serial && registry_check_text("--serial", dev->serial, why, sizeof why) != 0)) {
        fprintf(stderr, "smpctl device add: %s\n", why);
        return -1;
    }
    return 0;
}

static int cmd_add(int argc, char **argv)
{
    const char *db_path = NULL, *cert_path = NULL;
    registry_new dev = {0};
    cmdopt opts[] = {{"--clinic", &dev.clinic, false}, {"--db", &db_path, false}, {"--model", &dev.model, false},
                       {"--serial", &dev.serial, false}, {"--cert", &cert_path, false}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    char *pem = NULL;
    sqlite3 *db = NULL;
    int rc = 1;

    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl device add: missing <id>\n");
        usage(stderr);
        return 2;
    }
    dev.device_id = argv[1];
    if (cmdopts_parse("device add", argc - 2, argv + 2, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (dev.clinic == NULL || db_path == NULL) {
        fprintf(stderr, "smpctl device add: --clinic and --db are required\n");
        return 2;
    }
    if (check_add_args(&dev) != 0)
        return 1;
    if (cert_path) {
        if ((pem = read_cert_file(cert_path)) == NULL)
            return 1;
        if (registry_check_cert(pem, dev.device_id, err, sizeof err) != 0) {
            fprintf(stderr, "smpctl device add: --cert %s: %s\n", cert_path, err);
            goto cleanup;
        }
        dev.cert_pem = pem;
    }
    if (db_open(db_path, &db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device add: %s\n", err);
        goto cleanup;
    }
    now_ts(now);
    if (registry_add(db, &dev, now, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device add: %s\n", err);
        goto cleanup;
    }
    printf("device %s added to clinic '%s'%s\n", dev.device_id, dev.clinic,
           pem ? " with its certificate" : "");
    rc = 0;

cleanup:
    sqlite3_close(db);
    free(pem);
    return rc;
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

static void status_of(const registry_device *d, char *buf, size_t cap)
{
    if (d->retired_at[0])
        snprintf(buf, cap, "retired %s", d->retired_at);
    else
        snprintf(buf, cap, "active");
}

static void print_table(FILE *out, const registry_device *devs, size_t n)
{
    int w[5] = {2, 6, 5, 6, 5}; /* widths of "id", "clinic", "model", "serial", "added" */
    char status[64];

    for (size_t i = 0; i < n; i++) {
        const char *cols[5] = {devs[i].device_id, devs[i].clinic, or_dash(devs[i].model),
                               or_dash(devs[i].serial), devs[i].added_at};
        for (int c = 0; c < 5; c++)
            if ((int)strlen(cols[c]) > w[c])
                w[c] = (int)strlen(cols[c]);
    }
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], "id", w[1], "clinic", w[2], "model",
            w[3], "serial", w[4], "added", "status");
    for (size_t i = 0; i < n; i++) {
        status_of(&devs[i], status, sizeof status);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], devs[i].device_id, w[1],
                devs[i].clinic, w[2], or_dash(devs[i].model), w[3], or_dash(devs[i].serial),
                w[4], devs[i].added_at, status);
    }
}

static int cmd_list(int argc, char **argv)
{
    const char *db_path = NULL, *clinic = NULL;
    cmdopt opts[] = {{"--db", &db_path, false}, {"--clinic", &clinic, false}};
    registry_device *devs = NULL;
    size_t n = 0;
    char err[ERRLEN];
    sqlite3 *db = NULL;
    int rc = 1;

    if (cmdopts_parse("device list", argc - 1, argv + 1, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (db_path == NULL) {
        fprintf(stderr, "smpctl device list: --db is required\n");
        return 2;
    }
    if (open_existing("device list", db_path, &db) != 0)
        goto cleanup;
    if (registry_list(db, clinic, &devs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device list: %s\n", err);
        goto cleanup;
    }
    print_table(stdout, devs, n);
    if (n == 0 && clinic)
        fprintf(stderr, "smpctl device list: no devices registered for clinic '%s'\n", clinic);
    rc = 0;

cleanup:
    free(devs);
    sqlite3_close(db);
    return rc;
}

static int cmd_retire(int argc, char **argv)
{
    const char *db_path = NULL;
    cmdopt opts[] = {{"--db", &db_path, false}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    sqlite3 *db = NULL;
    int rc = 1;

    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl device retire: missing <id>\n");
        usage(stderr);
        return 2;
    }
    if (cmdopts_parse("device retire", argc - 2, argv + 2, opts, 1) != 0)
        return 2;
    if (db_path == NULL) {
        fprintf(stderr, "smpctl device retire: --db is required\n");
        return 2;
    }
    if (open_existing("device retire", db_path, &db) != 0)
        goto cleanup;
    now_ts(now);
    if (registry_retire(db, argv[1], now, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device retire: %s\n", err);
        goto cleanup;
    }
    printf("device %s retired at %s\n", argv[1], now);
    rc = 0;

cleanup:
    sqlite3_close(db);
    return rc;
}

int device_cmd(int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[0], "add") == 0)
        return cmd_add(argc, argv);
    if (strcmp(argv[0], "list") == 0)
        return cmd_list(argc, argv);
    if (strcmp(argv[0], "retire") == 0)
        return cmd_retire(argc, argv);
    fprintf(stderr, "smpctl device: unknown subcommand '%s'\n", argv[0]);
    usage(stderr);
    return 2;
}
