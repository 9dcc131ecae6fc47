/* broker_acl: renders the generated broker ACL (broker_acl.h) and gathers
 * its inputs from the PKI directory and the registry. */
#include "broker_acl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ids.h"
#include "registry.h"

#define COLLECTOR_SUFFIX_MAX 40

/* ---- checks: nothing reaches the ACL unchecked ---------------------------- */

/* A further collector's suffix, as pki issue-collector --name allows it. */
static bool collector_suffix_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= COLLECTOR_SUFFIX_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n && s[0] != '-' &&
           s[n - 1] != '-';
}

static int check_viewer(const broker_acl_viewer *v, char *err, size_t errlen)
{
    char why[160];

    if (registry_check_viewer_name(v->name, err, errlen) != 0)
        return -1;
    if (v->clinic && registry_check_clinic("clinic", v->clinic, why, sizeof why) != 0) {
        snprintf(err, errlen, "viewer %s: %s", v->name, why);
        return -1;
    }
    for (size_t i = 0; i < v->ndevices; i++) {
        if (!ids_valid_device_id(v->devices[i], why, sizeof why)) {
            snprintf(err, errlen, "viewer %s: a device of its clinic has a bad id (%s); fix the "
                     "registry", v->name, why);
            return -1;
        }
    }
    return 0;
}

/* ---- the base ------------------------------------------------------------- */

/* Length of the base part: up to the marker line of an earlier run, with
 * trailing newlines dropped so that every run writes the same separator. */
static size_t base_len(const char *base)
{
    size_t n = strlen(base);
    const char *p = base;

    while ((p = strstr(p, BROKER_ACL_MARKER)) != NULL) {
        size_t mlen = strlen(BROKER_ACL_MARKER);
        if ((p == base || p[-1] == '\n') && (p[mlen] == '\n' || p[mlen] == '\0')) {
            n = (size_t)(p - base);
            break;
        }
        p += mlen;
    }
    while (n > 0 && base[n - 1] == '\n')
        n--;
    return n;
}

/* The "topic" lines of the smp-collector block of base[0..len): after the
 * line "user smp-collector", up to the next "# ----" section or "user"
 * line. Written to out (NULL: only checked) as they are: the base is the
 * operator's own file. */
static int collector_rights(const char *base, size_t len, FILE *out, char *err, size_t errlen)
{
    const char *p = base, *end = base + len;
    bool on = false;
    size_t found = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == strlen("user " IDS_COLLECTOR_CN) && memcmp(p, "user " IDS_COLLECTOR_CN, n) == 0) {
            on = true;
        } else if ((n >= 6 && memcmp(p, "# ----", 6) == 0) || (n >= 5 && memcmp(p, "user ", 5) == 0)) {
            on = false;
        } else if (on && n >= 6 && memcmp(p, "topic ", 6) == 0) {
            if (out)
                fprintf(out, "%.*s\n", (int)n, p);
            found++;
        }
        p += n + 1;
    }
    if (found == 0) {
        snprintf(err, errlen, "the base ACL has no 'user %s' block with topic lines; start from "
                 "broker-config/acl (installed as /etc/smpfleet/acl)", IDS_COLLECTOR_CN);
        return -1;
    }
    return 0;
}

/* ---- rendering -------------------------------------------------------------- */

static void viewer_block(FILE *f, const broker_acl_viewer *v)
{
    fprintf(f, "\n# ---- viewer %s: read-only, %s\n", v->name,
            v->clinic ? "the alerts and device status of one clinic"
                      : "the alerts and device status of every clinic");
    fprintf(f, "user %s%s\n", REGISTRY_VIEWER_PREFIX, v->name);
    /* The device patterns above apply to every user, a viewer included
     * (smp/v1/dev/smp-viewer-<name>/events, ...). mosquitto checks a user's
     * own lines, deny first, before the patterns, so this takes them away. */
    fprintf(f, "topic deny smp/v1/dev/%s%s/#\n", REGISTRY_VIEWER_PREFIX, v->name);
    if (!v->clinic) {
        fprintf(f, "topic read smp/v1/alerts/+\n");
        fprintf(f, "topic read smp/v1/dev/+/status\n");
        return;
    }
    fprintf(f, "topic read smp/v1/alerts/%s\n", v->clinic);
    for (size_t i = 0; i < v->ndevices; i++)
        fprintf(f, "topic read smp/v1/dev/%s/status\n", v->devices[i]);
}

int broker_acl_render(const broker_acl_input *in, char **out, size_t *outlen, char *err,
                      size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, blen = base_len(in->base);
    FILE *f;

    *out = NULL;
    *outlen = 0;
    for (size_t i = 0; i < in->ncollectors; i++) {
        if (!collector_suffix_ok(in->collectors[i])) {
            snprintf(err, errlen, "collector-%.60s.crt: not a name issue-collector makes "
                     "(a-z, 0-9, '-'); rename or remove it", in->collectors[i]);
            return -1;
        }
    }
    for (size_t i = 0; i < in->nviewers; i++)
        if (check_viewer(&in->viewers[i], err, errlen) != 0)
            return -1;
    /* Checked even with no further collector: a base without the collector
     * block is not this fleet's ACL. */
    if (collector_rights(in->base, blen, NULL, err, errlen) != 0)
        return -1;
    if (!(f = open_memstream(&buf, &len))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fprintf(f, "%.*s\n\n%s\n", (int)blen, in->base, BROKER_ACL_MARKER);
    fprintf(f, "# %zu further collector(s), %zu viewer(s). Regenerate after pki issue-collector,\n"
               "# pki issue-viewer, device add or device retire, then reload the broker.\n",
            in->ncollectors, in->nviewers);
    for (size_t i = 0; i < in->ncollectors; i++) {
        fprintf(f, "\n# ---- collector-%s: a further collector, the rights of %s\n",
                in->collectors[i], IDS_COLLECTOR_CN);
        fprintf(f, "user %s-%s\n", IDS_COLLECTOR_CN, in->collectors[i]);
        if (collector_rights(in->base, blen, f, err, errlen) != 0) {
            fclose(f);
            free(buf);
            return -1;
        }
    }
    for (size_t i = 0; i < in->nviewers; i++)
        viewer_block(f, &in->viewers[i]);
    if (fclose(f) != 0) {
        free(buf);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* ---- gathering ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int push_str(char ***v, size_t *n, const char *s, size_t len)
{
    char **m = realloc(*v, (*n + 1) * sizeof *m);
    if (!m)
        return -1;
    *v = m;
    if (!(m[*n] = strndup(s, len)))
        return -1;
    (*n)++;
    return 0;
}

/* The suffixes of DIR/collector-<S>.crt, sorted. A renewal's kept pair
 * (a '.' in the stem, pki_is_archived) is not an identity of its own. */
static int list_collectors(const char *dir, char ***out, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    *out = NULL;
    *n = 0;
    if (!d) {
        snprintf(err, errlen, "--pki %s: cannot read the directory; give the PKI directory of "
                 "smpctl pki init", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= strlen("collector-.crt") || strncmp(e->d_name, "collector-", 10) != 0 ||
            strcmp(e->d_name + len - 4, ".crt") != 0)
            continue;
        const char *s = e->d_name + 10;
        size_t slen = len - 14;
        if (memchr(s, '.', slen))
            continue;
        if (push_str(out, n, s, slen) != 0) {
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, *n, sizeof **out, cmp_str);
    return 0;
}

/* Every viewer with its clinic's active devices. */
static int gather_viewers(sqldb *db, registry_viewer *rv, size_t nrv, broker_acl_viewer *out,
                          char ***devs, size_t *ndevs, char *err, size_t errlen)
{
    for (size_t i = 0; i < nrv; i++) {
        registry_device *list = NULL;
        size_t n = 0;

        out[i] = (broker_acl_viewer){.name = rv[i].name,
                                     .clinic = rv[i].all_clinics ? NULL : rv[i].clinic};
        if (rv[i].all_clinics)
            continue;
        if (registry_list(db, rv[i].clinic, &list, &n, err, errlen) != 0)
            return -1;
        for (size_t k = 0; k < n; k++) {
            if (list[k].retired_at[0])
                continue;    /* a retired device publishes nothing more */
            if (push_str(&devs[i], &ndevs[i], list[k].device_id, strlen(list[k].device_id)) != 0) {
                free(list);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        free(list);
        out[i].devices = (const char *const *)devs[i];
        out[i].ndevices = ndevs[i];
    }
    return 0;
}

/* The registry's viewers, each with its clinic's active devices (*views and
 * the arrays behind it owned by the caller, freed in broker_acl_build). */
static int read_viewers(sqldb *db, registry_viewer **rv, size_t *nrv, broker_acl_viewer **views,
                        char ****devs, size_t **ndevs, char *err, size_t errlen)
{
    if (registry_list_viewers(db, rv, nrv, err, errlen) != 0)
        return -1;
    if (*nrv == 0)
        return 0;
    *views = calloc(*nrv, sizeof **views);
    *devs = calloc(*nrv, sizeof **devs);
    *ndevs = calloc(*nrv, sizeof **ndevs);
    if (!*views || !*devs || !*ndevs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return gather_viewers(db, *rv, *nrv, *views, *devs, *ndevs, err, errlen);
}

int broker_acl_build(const char *base, const char *pki_dir, sqldb *db, char **out,
                     size_t *outlen, size_t *ncollectors, size_t *nviewers, char *err,
                     size_t errlen)
{
    char **coll = NULL, ***devs = NULL;
    size_t ncoll = 0, nrv = 0, *ndevs = NULL;
    registry_viewer *rv = NULL;
    broker_acl_viewer *views = NULL;
    int rc = -1;

    if (list_collectors(pki_dir, &coll, &ncoll, err, errlen) != 0)
        goto cleanup;
    if (db) {
        /* One snapshot: the viewers and their devices as of one moment. */
        if (sqldb_begin(db, SQLDB_SNAPSHOT) != 0) {
            db_error(db, "reading the viewers", err, errlen);
            goto cleanup;
        }
        int got = read_viewers(db, &rv, &nrv, &views, &devs, &ndevs, err, errlen);
        sqldb_rollback(db);     /* it only read */
        if (got != 0)
            goto cleanup;
    }
    broker_acl_input in = {base, (const char *const *)coll, ncoll, views, nrv};
    if (broker_acl_render(&in, out, outlen, err, errlen) != 0)
        goto cleanup;
    *ncollectors = ncoll;
    *nviewers = nrv;
    rc = 0;
cleanup:
    for (size_t i = 0; devs && i < nrv; i++)
        free_strs(devs[i], ndevs[i]);
    free(devs);
    free(ndevs);
    free(views);
    free(rv);
    free_strs(coll, ncoll);
    return rc;
}
