/* pki_renew: `smpctl pki renew-device <id>` — a new key and certificate for
 * a device whose certificate nears its end (or whose key must change).
 *
 * The machine keeps running on its current pair until someone installs the
 * new one, so the current pair stays valid (it is not revoked) and is kept
 * as devices/<id>.<SERIAL>.crt/.key; the new pair takes devices/<id>.crt/.key,
 * the names agent configs and run scripts already use. Revoke the old one
 * with `smpctl pki revoke --serial SERIAL` once the machine has switched.
 *
 * File steps, each atomic: hard-link the current pair to its archive names
 * (link(2) never replaces, so a kept pair is never lost), then rename the
 * new key and then the new certificate over the current names. A crash
 * between the two renames leaves a new key next to the old certificate at
 * the current names; the kept pair and the index tell which is which, and
 * rerunning renew-device gives a consistent new pair. */
#include "pki_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "db.h"
#include "registry.h"

#define RENEW_ERR 1024

struct renew_paths {
    char crt[PATH_MAX], key[PATH_MAX];           /* current pair */
    char old_crt[PATH_MAX], old_key[PATH_MAX];   /* where it is kept */
    char rel[PKI_REL_MAX], old_rel[PKI_REL_MAX]; /* relative to DIR, for the index */
};

static int renew_paths(const struct pki_req *req, const struct pki_certinfo *cur,
                       struct renew_paths *p, char *err, size_t errlen)
{
    int n;

    snprintf(p->rel, sizeof p->rel, "devices/%s.crt", req->device_id);
    n = snprintf(p->old_rel, sizeof p->old_rel, "devices/%s.%s.crt", req->device_id, cur->serial);
    if (n < 0 || n >= (int)sizeof p->old_rel) {
        snprintf(err, errlen, "archive name for %s is too long", req->device_id);
        return -1;
    }
    if (pki_path(p->old_crt, req->dir, p->old_rel, "", err, errlen) != 0 ||
        pki_path(p->old_key, req->dir, p->old_rel, "", err, errlen) != 0)
        return -1;
    memcpy(p->old_key + strlen(p->old_key) - 4, ".key", 4); /* same length as .crt */
    if (pki_refuse_existing(p->old_crt, err, errlen) != 0 ||
        pki_refuse_existing(p->old_key, err, errlen) != 0)
        return -1;
    return 0;
}

/* The registry must already know the device (and not as retired) before
 * anything is issued, so a typo in the id or --db costs nothing. */
static int open_registry(const struct pki_req *req, sqldb **db, char *err, size_t errlen)
{
    registry_device dev;
    char why[RENEW_ERR];
    int rc;

    *db = NULL;
    if (!req->db)
        return 0;
    if (db_open(req->db, db, why, sizeof why) != 0) {
        snprintf(err, errlen, "--db: %s", why);
        return -1;
    }
    rc = registry_get(*db, req->device_id, &dev, why, sizeof why);
    if (rc == 0 && dev.retired_at[0]) {
        snprintf(err, errlen, "device '%s' was retired at %s in %s; a retired device gets no "
                 "new certificate", req->device_id, dev.retired_at, sqldb_name(*db));
        rc = -1;
    } else if (rc != 0) {
        snprintf(err, errlen, "--db %s: %s; register it first ('smpctl device add')",
                 sqldb_name(*db), why);
        rc = -1;
    }
    if (rc != 0) {
        sqldb_close(*db);
        *db = NULL;
    }
    return rc;
}

/* Moves the current pair aside and puts the new one in its place. */
static int swap_files(const struct renew_paths *p, const struct pki_made *m, char *err,
                      size_t errlen)
{
    if (link(p->crt, p->old_crt) != 0) {
        snprintf(err, errlen, "cannot keep %s as %s: %s", p->crt, p->old_crt, strerror(errno));
        return -1;
    }
    if (link(p->key, p->old_key) != 0) {
        snprintf(err, errlen, "cannot keep %s as %s: %s", p->key, p->old_key, strerror(errno));
        unlink(p->old_crt);
        return -1;
    }
    if (pki_replace_file(p->key, m->key_pem, strlen(m->key_pem), PKI_KEY_MODE, err, errlen) != 0) {
        unlink(p->old_crt);
        unlink(p->old_key);
        return -1;
    }
    if (pki_replace_file(p->crt, m->crt_pem, strlen(m->crt_pem), PKI_CRT_MODE, err, errlen) != 0) {
        char why[RENEW_ERR];
        snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, err);
        snprintf(err, errlen, "%s; %s now holds the NEW key but %s the OLD certificate (kept "
                 "pair: %s, %s): rerun renew-device", why, p->key, p->crt, p->old_crt, p->old_key);
        return -1;
    }
    return 0;
}

static int update_index(const struct pki_req *req, const struct pki_certinfo *old_ci,
                        const struct pki_certinfo *new_ci, const struct renew_paths *p,
                        char *err, size_t errlen)
{
    struct pki_index idx = {0};
    int rc = -1;

    /* Adopting first records the old certificate under its kept name even
     * when the index predates it. */
    if (pki_index_load(req->dir, &idx, err, errlen) == 0 &&
        pki_index_adopt(req->dir, &idx, err, errlen) == 0 &&
        pki_index_put(&idx, old_ci, p->old_rel, err, errlen) == 0 &&
        pki_index_put(&idx, new_ci, p->rel, err, errlen) == 0 &&
        pki_index_save(req->dir, &idx, err, errlen) == 0)
        rc = 0;
    pki_index_free(&idx);
    return rc;
}

static int register_new(sqldb *db, const struct pki_req *req, const char *crt_pem, char *err,
                        size_t errlen)
{
    char now[REGISTRY_TS_LEN + 1], why[RENEW_ERR];
    registry_cert_change change;

    registry_now(now);
    if (registry_set_cert(db, req->device_id, crt_pem, now, false, &change, why, sizeof why) != 0) {
        snprintf(err, errlen, "the new pair is written but the registry was not updated (%s); "
                 "run: smpctl device replace %s --cert %s/devices/%s.crt --db %s", why,
                 req->device_id, req->dir, req->device_id, sqldb_name(db));
        return -1;
    }
    printf("smpctl pki: registered the new certificate of %s in %s (the previous one is kept "
           "in its certificate history)\n", req->device_id, sqldb_name(db));
    return 0;
}

int pki_renew_device(const struct pki_req *req, char *err, size_t errlen)
{
    struct renew_paths p;
    struct pki_certinfo old_ci, new_ci;
    struct pki_made *m = malloc(sizeof *m);
    char name[PKI_REL_MAX];
    sqldb *db = NULL;
    int lock = -1, rc = -1;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(name, sizeof name, "devices/%s", req->device_id); /* ids are <= 64 bytes */
    if (pki_path(p.crt, req->dir, name, ".crt", err, errlen) != 0 ||
        pki_path(p.key, req->dir, name, ".key", err, errlen) != 0)
        goto cleanup;
    if (access(p.crt, R_OK) != 0 || access(p.key, R_OK) != 0) {
        snprintf(err, errlen, "%s or %s is missing; renew-device renews an issued pair "
                 "(first time: smpctl pki issue-device %s --dir %s)", p.crt, p.key,
                 req->device_id, req->dir);
        goto cleanup;
    }
    if (open_registry(req, &db, err, errlen) != 0 || pki_lock(req->dir, &lock, err, errlen) != 0)
        goto cleanup;
    if (pki_certinfo_file(p.crt, &old_ci, err, errlen) != 0 ||
        renew_paths(req, &old_ci, &p, err, errlen) != 0)
        goto cleanup;
    if (pki_make_cert(req, m, err, errlen) != 0 || pki_certinfo_pem(m->crt_pem, &new_ci, err, errlen) != 0)
        goto cleanup;
    if (swap_files(&p, m, err, errlen) != 0)
        goto cleanup;
    printf("smpctl pki: kept the previous pair as %s and %s (serial %s, still valid until "
           "%s)\n", p.old_crt, p.old_key, old_ci.serial, old_ci.not_after);
    printf("smpctl pki: wrote %s and %s (serial %s)\n", p.crt, p.key, new_ci.serial);
    if (update_index(req, &old_ci, &new_ci, &p, err, errlen) != 0)
        goto cleanup;
    pki_unlock(lock);
    lock = -1;
    if (db && register_new(db, req, m->crt_pem, err, errlen) != 0)
        goto cleanup;
    printf("smpctl pki: install the new pair on the machine and restart its agent; then "
           "'smpctl pki revoke --dir %s --serial %s --reason superseded' retires the old one\n",
           req->dir, old_ci.serial);
    rc = 0;
cleanup:
    pki_unlock(lock);
    sqldb_close(db);
    mbedtls_platform_zeroize(m, sizeof *m);
    free(m);
    return rc;
}
