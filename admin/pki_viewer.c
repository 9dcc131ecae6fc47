/* pki_viewer: `smpctl pki issue-viewer` — a read-only client certificate
 * for a dashboard or a console, and its scope in the registry database.
 *
 * The CN is smp-viewer-<name>: device ids never start with "smp-" (ids.h)
 * and collectors are smp-collector[-S], so a viewer can never be taken for
 * either by the broker's ACL (which knows clients by CN only). What a
 * viewer may read is not in its certificate but in the registry table
 * viewers (clinic, or every clinic), from which `smpctl broker acl` writes
 * its ACL block; so a scope is changed without reissuing anything.
 *
 * Files: DIR/viewer-<name>.crt and .key, recorded in DIR/index.txt like
 * every other certificate (pki status lists it, pki revoke --cert revokes
 * it). The registry row and the files are made together: the row is
 * inserted in a transaction that commits only once both files are written,
 * so neither exists without the other. */
#include "pki.h"
#include "pki_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "cmdopts.h"
#include "db.h"
#include "registry.h"

static const char viewer_usage[] =
    "smpctl pki issue-viewer <name> --dir DIR (--clinic C | --all) --db PATH|URI [--days N]\n"
    "    a read-only client certificate for a dashboard: viewer-<name>.crt,\n"
    "    viewer-<name>.key (CN smp-viewer-<name>; name: a-z, 0-9, '-'), and its scope\n"
    "    in the registry: the alerts of clinic C (smp/v1/alerts/C) and the status of\n"
    "    C's devices, or of every clinic with --all. Nothing else: no events, no\n"
    "    acks, no publishing. Then regenerate the broker ACL ('smpctl broker acl')\n"
    "    and reload the broker. --db: the fleet database, a SQLite file or a\n"
    "    postgresql:// URI for PostgreSQL\n";

const char *pki_viewer_usage(void) { return viewer_usage; }

struct viewer_req {
    const char *name, *dir, *clinic, *db;
    bool all;
    long days;
};

static int parse(int argc, char **argv, struct viewer_req *r)
{
    char *end;

    memset(r, 0, sizeof *r);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--dir") == 0 ? &r->dir
                            : strcmp(a, "--clinic") == 0 ? &r->clinic
                            : strcmp(a, "--db") == 0 ? &r->db
                                                     : NULL;
        if (strcmp(a, "--all") == 0) {
            r->all = true;
        } else if (slot || strcmp(a, "--days") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "smpctl pki issue-viewer: %s needs a value\n", a);
                return -1;
            }
            if (slot) {
                *slot = argv[++i];
                continue;
            }
            r->days = strtol(argv[++i], &end, 10);
            if (*end != '\0' || end == argv[i] || r->days < 1 || r->days > PKI_MAX_DAYS) {
                fprintf(stderr, "smpctl pki issue-viewer: --days must be a whole number of days "
                        "1..%d, got '%s'\n", PKI_MAX_DAYS, argv[i]);
                return -1;
            }
        } else if (a[0] != '-' && !r->name) {
            r->name = a;
        } else {
            fprintf(stderr, "smpctl pki issue-viewer: unexpected argument '%s'\nusage: %s", a,
                    viewer_usage);
            return -1;
        }
    }
    if (!r->name || !r->dir || !r->db || (r->clinic != NULL) == r->all) {
        fprintf(stderr, "smpctl pki issue-viewer: give a name, --dir DIR, --db PATH|URI and exactly "
                "one of --clinic C or --all\nusage: %s", viewer_usage);
        return -1;
    }
    if (r->days == 0)
        r->days = PKI_LEAF_DAYS;
    return 0;
}

/* Makes and writes the pair; on success *crt holds the certificate path. */
static int write_viewer_pair(const struct viewer_req *r, const char *cn, const char *crt,
                             const char *key, struct pki_certinfo *ci, char *err, size_t errlen)
{
    struct pki_req req;
    struct pki_made *m = malloc(sizeof *m);
    int rc = -1;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Same profile as a device (TLS client, CN = device_id): the CN is the
     * only thing that differs, and the broker's ACL does the rest. */
    memset(&req, 0, sizeof req);
    req.kind = PKI_DEVICE;
    req.dir = r->dir;
    req.device_id = cn;
    req.days = r->days;
    if (pki_make_cert(&req, m, err, errlen) != 0 || pki_certinfo_pem(m->crt_pem, ci, err, errlen) != 0)
        goto cleanup;
    if (pki_write_new_file(key, m->key_pem, strlen(m->key_pem), PKI_KEY_MODE, (gid_t)-1, err,
                           errlen) != 0)
        goto cleanup;
    if (pki_write_new_file(crt, m->crt_pem, strlen(m->crt_pem), PKI_CRT_MODE, (gid_t)-1, err,
                           errlen) != 0) {
        unlink(key);    /* a key without its certificate would block the retry */
        goto cleanup;
    }
    rc = 0;
cleanup:
    mbedtls_platform_zeroize(m, sizeof *m);
    free(m);
    return rc;
}

static int issue(const struct viewer_req *r, char *err, size_t errlen)
{
    char cn[PKI_CN_MAX + 1], stem[REGISTRY_VIEWER_NAME_MAX + 8], crt[PATH_MAX], key[PATH_MAX], rel[PKI_REL_MAX],
        now[REGISTRY_TS_LEN + 1];
    struct pki_certinfo ci;
    sqldb *db = NULL;
    bool in_tx = false, written = false;
    int rc = -1;

    if (registry_check_viewer_name(r->name, err, errlen) != 0 ||
        (r->clinic && registry_check_clinic("--clinic", r->clinic, err, errlen) != 0))
        return -1;
    snprintf(cn, sizeof cn, "%s%s", REGISTRY_VIEWER_PREFIX, r->name);
    snprintf(stem, sizeof stem, "viewer-%s", r->name);
    snprintf(rel, sizeof rel, "%s.crt", stem);
    if (pki_path(crt, r->dir, stem, ".crt", err, errlen) != 0 ||
        pki_path(key, r->dir, stem, ".key", err, errlen) != 0 ||
        pki_refuse_existing(crt, err, errlen) != 0 || pki_refuse_existing(key, err, errlen) != 0)
        return -1;
    /* db_open refuses a mistyped --db: it never creates a registry. */
    if (db_open(r->db, &db, err, errlen) != 0)
        return -1;
    if (sqldb_begin(db, SQLDB_WRITE) != 0) {
        db_error(db, "begin recording the viewer", err, errlen);
        goto cleanup;
    }
    in_tx = true;
    registry_now(now);
    if (registry_add_viewer(db, r->name, r->clinic, now, err, errlen) != 0 ||
        write_viewer_pair(r, cn, crt, key, &ci, err, errlen) != 0)
        goto cleanup;
    written = true;
    if (sqldb_commit(db) != 0) {
        db_error(db, "commit the viewer", err, errlen);
        goto cleanup;
    }
    in_tx = false;
    printf("smpctl pki: wrote %s and %s (CN %s, reads %s%s)\n", crt, key, cn,
           r->clinic ? "clinic " : "every clinic", r->clinic ? r->clinic : "");
    if (pki_index_record(r->dir, &ci, rel, err, errlen) != 0) {
        char why[PKI_ERR_MAX / 2];
        snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, err);
        snprintf(err, errlen, "%s was written but not recorded in index.txt (%s); "
                 "'smpctl pki crl --dir %s' adds it", crt, why, r->dir);
        goto cleanup;
    }
    /* The masked target: a password never reaches the terminal. */
    printf("smpctl pki: now regenerate the broker ACL (smpctl broker acl --db %s --pki %s "
           "--out ACL) and reload the broker\n", sqldb_name(db), r->dir);
    rc = 0;
cleanup:
    if (in_tx) {
        sqldb_rollback(db);
        /* Not recorded: files without their scope would be an identity the
         * ACL never grants anything; remove them so the name can be reused. */
        if (written) {
            unlink(crt);
            unlink(key);
        }
    }
    sqldb_close(db);
    return rc;
}

int pki_viewer_cmd(int argc, char **argv)
{
    struct viewer_req r;
    char err[PKI_ERR_MAX];

    if (cmdopts_wants_help(argc - 1, argv + 1)) {
        printf("usage: %s", viewer_usage);
        return 0;
    }
    if (parse(argc, argv, &r) != 0)
        return 2;
    if (issue(&r, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl pki issue-viewer: %s\n", err);
        return 1;
    }
    return 0;
}
