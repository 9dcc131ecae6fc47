/* pki_revoke: `smpctl pki revoke-device <id>`, `pki revoke --serial|--cert`
 * and `pki crl`. A revocation is recorded in index.txt first and the CRL is
 * then regenerated from the index, so the index is never behind the CRL: if
 * writing the CRL fails, `pki crl` rewrites it from what was recorded. */
#include "pki_int.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

static const char *const reasons[] = {"unspecified", "keyCompromise", "affiliationChanged",
                                      "superseded", "cessationOfOperation"};

static int check_reason(const char *r, char *err, size_t errlen)
{
    if (!r)
        return 0;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(r, reasons[i]) == 0)
            return 0;
    snprintf(err, errlen, "--reason '%.40s' is not one of unspecified, keyCompromise, "
             "affiliationChanged, superseded, cessationOfOperation", r);
    return -1;
}

/* "0x4a:3f..." or "4A3F..." -> "4A3F..." without leading zeros. */
static int normalize_serial(const char *in, char out[PKI_SERIAL_HEX_MAX], char *err,
                            size_t errlen)
{
    size_t n = 0;

    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    for (const char *p = in; *p; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n + 1 >= PKI_SERIAL_HEX_MAX) {
            snprintf(err, errlen, "--serial '%.80s' is not a hexadecimal serial number (as "
                     "'smpctl pki status' shows it)", in);
            return -1;
        }
        if (n == 0 && *p == '0')
            continue;
        out[n++] = (char)toupper((unsigned char)*p);
    }
    if (n == 0) {
        snprintf(err, errlen, "--serial '%.80s' is zero or empty", in);
        return -1;
    }
    /* Serials are shown as whole octets: an odd count had a leading 0. */
    if (n % 2) {
        memmove(out + 1, out, n);
        out[0] = '0';
        n++;
    }
    out[n] = '\0';
    return 0;
}

static void mark(struct pki_entry *e, const char *reason, const char *now)
{
    e->status = 'R';
    snprintf(e->revoked_at, sizeof e->revoked_at, "%s", now);
    snprintf(e->reason, sizeof e->reason, "%s",
             reason && strcmp(reason, "unspecified") != 0 ? reason : "");
    printf("smpctl pki: revoked serial %s (CN %s, %s)\n", e->serial, e->cn, e->file);
}

/* Adds the certificate in --cert to the index when it is ours, so a pair
 * kept outside DIR can be revoked too. Returns its serial in ci. */
static int cert_from_file(const struct pki_req *req, struct pki_index *idx,
                          struct pki_certinfo *ci, char *err, size_t errlen)
{
    mbedtls_x509_crt ca, crt;
    char ca_path[PATH_MAX], what[PATH_MAX + 64];
    uint32_t flags = 0;
    int ret, rc = -1;

    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&crt);
    if (pki_path(ca_path, req->dir, "ca", ".crt", err, errlen) != 0)
        goto cleanup;
    if ((ret = mbedtls_x509_crt_parse_file(&ca, ca_path)) != 0) {
        snprintf(what, sizeof what, "reading the CA certificate %s", ca_path);
        pki_tls_fail(err, errlen, what, ret);
        goto cleanup;
    }
    if ((ret = mbedtls_x509_crt_parse_file(&crt, req->cert)) != 0) {
        snprintf(what, sizeof what, "--cert %s", req->cert);
        pki_tls_fail(err, errlen, what, ret);
        goto cleanup;
    }
    /* Only what this CA signed can be revoked by its CRL; an expired
     * certificate may still be revoked (for the record). */
    mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
    if ((flags & ~(uint32_t)MBEDTLS_X509_BADCERT_EXPIRED) != 0) {
        snprintf(err, errlen, "--cert %s was not issued by %s; nothing to revoke here",
                 req->cert, ca_path);
        goto cleanup;
    }
    if (pki_certinfo_file(req->cert, ci, err, errlen) != 0)
        goto cleanup;
    if (!pki_index_find(idx, ci->serial) && pki_index_put(idx, ci, "-", err, errlen) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);
    return rc;
}

static int revoke_device(const struct pki_req *req, struct pki_index *idx, const char *now,
                         char *err, size_t errlen)
{
    size_t known = 0, marked = 0;

    for (size_t i = 0; i < idx->n; i++) {
        struct pki_entry *e = &idx->e[i];
        if (strcmp(e->cn, req->device_id) != 0)
            continue;
        known++;
        if (e->status == 'V') {
            mark(e, req->reason, now);
            marked++;
        }
    }
    if (known == 0) {
        snprintf(err, errlen, "no certificate of device '%s' in %s (index.txt or devices/); "
                 "check the id with 'smpctl pki status --dir %s'", req->device_id, req->dir,
                 req->dir);
        return -1;
    }
    if (marked == 0)
        printf("smpctl pki: every certificate of %s was already revoked\n", req->device_id);
    return 0;
}

static int revoke_one(const struct pki_req *req, struct pki_index *idx, const char *now,
                      char *err, size_t errlen)
{
    struct pki_certinfo ci;
    struct pki_entry *e;
    char serial[PKI_SERIAL_HEX_MAX];

    if (req->cert) {
        if (cert_from_file(req, idx, &ci, err, errlen) != 0)
            return -1;
        snprintf(serial, sizeof serial, "%s", ci.serial);
    } else if (normalize_serial(req->serial, serial, err, errlen) != 0) {
        return -1;
    }
    e = pki_index_find(idx, serial);
    if (!e) {
        snprintf(err, errlen, "serial %s was not issued from %s (not in index.txt, no "
                 "certificate file has it); 'smpctl pki status --dir %s' lists serials",
                 serial, req->dir, req->dir);
        return -1;
    }
    if (strcmp(e->file, "ca.crt") == 0) {
        snprintf(err, errlen, "serial %s is the CA itself; a CA cannot revoke itself (make a new "
                 "fleet CA instead)", serial);
        return -1;
    }
    if (e->status == 'R') {
        printf("smpctl pki: serial %s was already revoked at %s\n", serial, e->revoked_at);
        return 0;
    }
    mark(e, req->reason, now);
    return 0;
}

static size_t count_revoked(const struct pki_index *idx)
{
    size_t n = 0;

    for (size_t i = 0; i < idx->n; i++)
        n += idx->e[i].status == 'R';
    return n;
}

/* Under the lock: index (with any files it lacks), change, save, CRL. */
static int update(const struct pki_req *req, bool revoke, char *err, size_t errlen)
{
    struct pki_index idx = {0};
    char now[PKI_TIME_LEN + 1], ca[PATH_MAX];
    int lock = -1, rc = -1;

    if (pki_path(ca, req->dir, "ca", ".crt", err, errlen) != 0 ||
        pki_need_existing(ca, req->dir, err, errlen) != 0)
        return -1;
    if (pki_lock(req->dir, &lock, err, errlen) != 0)
        return -1;
    if (pki_index_load(req->dir, &idx, err, errlen) != 0 ||
        pki_index_adopt(req->dir, &idx, err, errlen) != 0)
        goto cleanup;
    pki_time_str(time(NULL), now);
    if (revoke && (req->kind == PKI_REVOKE_DEVICE ? revoke_device(req, &idx, now, err, errlen)
                                                   : revoke_one(req, &idx, now, err, errlen)) != 0)
        goto cleanup;
    if (pki_index_save(req->dir, &idx, err, errlen) != 0)
        goto cleanup;
    if (pki_crl_write(req->dir, &idx, err, errlen) != 0) {
        char why[PKI_ERR_MAX / 2];
        snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, err);
        snprintf(err, errlen, "recorded in index.txt, but crl.pem was not rewritten (%s); "
                 "fix that and run 'smpctl pki crl --dir %s'", why, req->dir);
        goto cleanup;
    }
    printf("smpctl pki: wrote %s/crl.pem (%zu revoked); the broker refuses them once it has "
           "reloaded it (run-broker.sh reload, or a restart)\n", req->dir, count_revoked(&idx));
    rc = 0;
cleanup:
    pki_index_free(&idx);
    pki_unlock(lock);
    return rc;
}

int pki_revoke_cmd(const struct pki_req *req, char *err, size_t errlen)
{
    if (check_reason(req->reason, err, errlen) != 0)
        return -1;
    return update(req, true, err, errlen);
}

int pki_crl_cmd(const struct pki_req *req, char *err, size_t errlen)
{
    return update(req, false, err, errlen);
}
