/* pki_crl: DIR/crl.pem, the fleet CA's certificate revocation list, which
 * mosquitto loads with `crlfile` to refuse revoked device and collector
 * certificates at the TLS handshake.
 *
 * Why OpenSSL here when everything else uses mbedTLS: mbedTLS 2.28 can
 * parse and check CRLs but has no CRL writer (mbedtls_x509write_* covers
 * certificates and CSRs only), and hand-encoding a signed TBSCertList is
 * exactly the kind of ASN.1 we should not own. OpenSSL's libcrypto is already
 * on every machine that runs the broker (mosquitto and Paho link it) and its
 * X509_CRL API writes a CRL that mosquitto, which verifies with the same
 * library, is certain to accept. So libcrypto is used for this one file and
 * nothing else; smpctl links -lcrypto.
 *
 * nextUpdate: OpenSSL (so mosquitto) fails *every* client handshake with
 * "CRL has expired" once a CRL's nextUpdate has passed, which would lock the
 * whole fleet out because nobody re-ran a command. The CRL is therefore
 * valid for the CA's whole remaining lifetime: nextUpdate = the CA's
 * notAfter. Nothing is lost by that: there is no CRL distribution point and
 * the broker reads this file directly, so a fresh CRL is in force as soon as
 * the broker (re)loads it, and after the CA expires no certificate it signed
 * verifies anyway. `smpctl pki status` lists the CRL's nextUpdate with the
 * certificates and warns like for them.
 *
 * thisUpdate is now and CRL number is thisUpdate in seconds since 1970, so
 * both strictly increase: when mosquitto reloads the file on SIGHUP it
 * *adds* the new CRL to its store next to the old one, and OpenSSL then
 * prefers the CRL with the later thisUpdate. */
#include "pki_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CRL_MAX (8 * 1024 * 1024)
/* The previous CRL is this far in the future: the clock went backwards. */
#define CLOCK_BACK_S 5

static int ssl_fail(char *err, size_t errlen, const char *what)
{
    char reason[256] = "unknown error";
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s (OpenSSL)", what, reason);
    return -1;
}

static int reason_code(const char *name)
{
    static const char *const names[] = {"unspecified", "keyCompromise", NULL,
                                        "affiliationChanged", "superseded",
                                        "cessationOfOperation"};

    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return i;
    return -1;
}

static X509 *read_x509(const char *path, char *err, size_t errlen)
{
    BIO *b = BIO_new_file(path, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    char what[PATH_MAX + 32];

    BIO_free(b);
    if (!x) {
        snprintf(what, sizeof what, "reading the CA certificate %s", path);
        ssl_fail(err, errlen, what);
    }
    return x;
}

static EVP_PKEY *read_key(const char *path, char *err, size_t errlen)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    char what[PATH_MAX + 32];

    BIO_free(b);
    if (!k) {
        snprintf(what, sizeof what, "reading the CA key %s", path);
        ssl_fail(err, errlen, what);
    }
    return k;
}

/* thisUpdate of the CRL now in crl_path, or 0 when there is none. */
static time_t previous_this_update(const char *crl_path)
{
    BIO *b = BIO_new_file(crl_path, "r");
    X509_CRL *old = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
    const ASN1_TIME *t = old ? X509_CRL_get0_lastUpdate(old) : NULL;
    struct tm tm;
    time_t r = 0;

    if (t && ASN1_TIME_to_tm(t, &tm) == 1)
        r = timegm(&tm);
    X509_CRL_free(old);
    BIO_free(b);
    ERR_clear_error();
    return r;
}

/* now, strictly after the previous CRL's thisUpdate (waits up to a second
 * or two when two revocations follow each other). */
static int pick_this_update(const char *crl_path, time_t *out, char *err, size_t errlen)
{
    time_t prev = previous_this_update(crl_path), now = time(NULL);

    if (prev > now + CLOCK_BACK_S) {
        snprintf(err, errlen, "%s was made at a later time than now; check the system clock "
                 "before issuing a new CRL", crl_path);
        return -1;
    }
    while (now <= prev) {
        usleep(200 * 1000);
        now = time(NULL);
    }
    *out = now;
    return 0;
}

static int add_revoked(X509_CRL *crl, const struct pki_entry *e, char *err, size_t errlen)
{
    X509_REVOKED *rev = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *reason = NULL;
    int code = e->reason[0] ? reason_code(e->reason) : 0;
    int rc = -1;

    if (!rev || BN_hex2bn(&bn, e->serial) == 0 || !(serial = BN_to_ASN1_INTEGER(bn, NULL)) ||
        !(when = ASN1_TIME_set(NULL, pki_time_parse(e->revoked_at))) ||
        X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
        X509_REVOKED_set_revocationDate(rev, when) != 1) {
        ssl_fail(err, errlen, "adding a revoked serial to the CRL");
        goto cleanup;
    }
    if (code < 0) {
        snprintf(err, errlen, "index.txt: serial %s has unknown reason '%s'", e->serial, e->reason);
        goto cleanup;
    }
    /* RFC 5280 5.3.1: "unspecified" SHOULD be expressed by leaving the
     * reasonCode out. */
    if (code > 0 && (!(reason = ASN1_ENUMERATED_new()) || ASN1_ENUMERATED_set(reason, code) != 1 ||
                     X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0) != 1)) {
        ssl_fail(err, errlen, "adding the revocation reason to the CRL");
        goto cleanup;
    }
    if (X509_CRL_add0_revoked(crl, rev) != 1) {
        ssl_fail(err, errlen, "adding a revoked serial to the CRL");
        goto cleanup;
    }
    rev = NULL; /* owned by crl now */
    rc = 0;
cleanup:
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_REVOKED_free(rev);
    return rc;
}

/* CRL number and authority key identifier: RFC 5280 5.2 requires both of a
 * conforming CA, and OpenSSL matches the CRL to the CA by the latter. */
static int add_crl_extensions(X509_CRL *crl, X509 *ca, time_t this_update, char *err,
                              size_t errlen)
{
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    X509_EXTENSION *akid = NULL;
    X509V3_CTX ctx;
    int rc = -1;

    if (!number || ASN1_INTEGER_set_int64(number, (int64_t)this_update) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) != 1) {
        ssl_fail(err, errlen, "adding the CRL number");
        goto cleanup;
    }
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    akid = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!akid || X509_CRL_add_ext(crl, akid, -1) != 1) {
        ssl_fail(err, errlen, "adding the authority key identifier to the CRL "
                 "(does ca.crt have a subject key identifier?)");
        goto cleanup;
    }
    rc = 0;
cleanup:
    X509_EXTENSION_free(akid);
    ASN1_INTEGER_free(number);
    return rc;
}

static int write_pem(const char *path, X509_CRL *crl, char *err, size_t errlen)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int rc = -1;

    if (!mem || PEM_write_bio_X509_CRL(mem, crl) != 1 || (len = BIO_get_mem_data(mem, &data)) <= 0) {
        ssl_fail(err, errlen, "encoding the CRL");
        goto cleanup;
    }
    /* 0644: mosquitto reads it as its own user. */
    rc = pki_replace_file(path, data, (size_t)len, PKI_CRT_MODE, err, errlen);
cleanup:
    BIO_free(mem);
    return rc;
}

int pki_crl_write(const char *dir, const struct pki_index *idx, char *err, size_t errlen)
{
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], crl_path[PATH_MAX];
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    X509_CRL *crl = NULL;
    ASN1_TIME *this_t = NULL;
    time_t now;
    int rc = -1;

    if (pki_path(ca_crt, dir, "ca", ".crt", err, errlen) != 0 ||
        pki_path(ca_key, dir, "ca", ".key", err, errlen) != 0 ||
        pki_path(crl_path, dir, "crl", ".pem", err, errlen) != 0)
        return -1;
    if (!(ca = read_x509(ca_crt, err, errlen)) || !(key = read_key(ca_key, err, errlen)))
        goto cleanup;
    if (X509_check_private_key(ca, key) != 1) {
        snprintf(err, errlen, "%s does not belong to %s; restore the pair made by smpctl pki init",
                 ca_key, ca_crt);
        goto cleanup;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(ca)) <= 0) {
        snprintf(err, errlen, "the CA %s has expired, so no CRL can be valid; a new fleet CA "
                 "(smpctl pki init in a new --dir) and new certificates are needed", ca_crt);
        goto cleanup;
    }
    if (pick_this_update(crl_path, &now, err, errlen) != 0)
        goto cleanup;
    if (!(crl = X509_CRL_new()) || X509_CRL_set_version(crl, 1 /* v2 */) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
        !(this_t = ASN1_TIME_set(NULL, now)) || X509_CRL_set1_lastUpdate(crl, this_t) != 1 ||
        X509_CRL_set1_nextUpdate(crl, X509_get0_notAfter(ca)) != 1) {
        ssl_fail(err, errlen, "making the CRL");
        goto cleanup;
    }
    for (size_t i = 0; i < idx->n; i++)
        if (idx->e[i].status == 'R' && add_revoked(crl, &idx->e[i], err, errlen) != 0)
            goto cleanup;
    if (add_crl_extensions(crl, ca, now, err, errlen) != 0)
        goto cleanup;
    if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, key, EVP_sha256()) <= 0) {
        ssl_fail(err, errlen, "signing the CRL with the CA key");
        goto cleanup;
    }
    rc = write_pem(crl_path, crl, err, errlen);
cleanup:
    ASN1_TIME_free(this_t);
    X509_CRL_free(crl);
    EVP_PKEY_free(key);
    X509_free(ca);
    return rc;
}
