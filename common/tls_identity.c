#include "tls_identity.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* mbedTLS reports an unreadable file as a bare FILE_IO_ERROR; opening it
 * first gives the operator errno's reason (permissions, missing file). */
static int readable(const char *setting, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");

    if (!f) {
        snprintf(err, errlen, "%s %s: cannot read: %s; check the path and its permissions", setting,
                 path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

static time_t x509_time_t(const mbedtls_x509_time *t, char *text, size_t cap)
{
    struct tm tm = {.tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                    .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec};

    snprintf(text, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", t->year, t->mon, t->day, t->hour, t->min,
             t->sec);
    return timegm(&tm);
}

static void read_subject(const mbedtls_x509_crt *crt, tls_identity *id)
{
    for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next) {
        if (!n->oid.p || MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0)
            continue;
        if (id->cn_count++ > 0)
            continue;
        size_t len = n->val.len < sizeof id->cn - 1 ? n->val.len : sizeof id->cn - 1;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = n->val.p[i];
            id->cn[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        id->cn[len] = '\0';
    }
}

int tls_identity_load(const char *cert_file, const char *key_file, tls_identity *id, char *err,
                      size_t errlen)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    char why[160];
    int ret, rc = -1;

    memset(id, 0, sizeof *id);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    if (readable("cert_file", cert_file, err, errlen) != 0 ||
        readable("key_file", key_file, err, errlen) != 0)
        goto cleanup;
    if (!cert_file) {
        rc = 0;
        goto cleanup;
    }
    if ((ret = mbedtls_x509_crt_parse_file(&crt, cert_file)) != 0) {
        if (ret < 0)
            mbedtls_strerror(ret, why, sizeof why);
        else
            snprintf(why, sizeof why, "%d certificate(s) in it do not parse", ret);
        snprintf(err, errlen, "cert_file %s: not a PEM certificate (%s); give the .crt written by "
                 "smpctl pki", cert_file, why);
        goto cleanup;
    }
    read_subject(&crt, id);
    id->not_before = x509_time_t(&crt.valid_from, id->not_before_text, sizeof id->not_before_text);
    id->not_after = x509_time_t(&crt.valid_to, id->not_after_text, sizeof id->not_after_text);
    if ((ret = mbedtls_pk_parse_keyfile(&key, key_file, NULL)) != 0) {
        mbedtls_strerror(ret, why, sizeof why);
        snprintf(err, errlen, "key_file %s: not an unencrypted PEM private key (%s); give the .key "
                 "written by smpctl pki", key_file, why);
        goto cleanup;
    }
    /* The first certificate of the file is the one the TLS stack presents. */
    if ((ret = mbedtls_pk_check_pair(&crt.pk, &key)) != 0) {
        snprintf(err, errlen, "key_file %s is not the private key of cert_file %s (CN '%s'); "
                 "point key_file at the .key issued with that certificate", key_file, cert_file,
                 id->cn);
        goto cleanup;
    }
    rc = 0;

cleanup:
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&crt);
    return rc;
}

bool tls_identity_expired(const tls_identity *id, time_t now, char *why, size_t whylen)
{
    if (now > id->not_after)
        snprintf(why, whylen, "expired on %s", id->not_after_text);
    else if (now < id->not_before)
        snprintf(why, whylen, "is not valid before %s", id->not_before_text);
    else
        return false;
    return true;
}

int tls_identity_check_issuer(const char *cert_file, const char *ca_file, char *err, size_t errlen)
{
    mbedtls_x509_crt ca, crt;
    uint32_t flags = 0;
    char why[160];
    int ret, rc = -1;

    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&crt);
    if (readable("ca_file", ca_file, err, errlen) != 0 ||
        (cert_file && readable("cert_file", cert_file, err, errlen) != 0))
        goto cleanup;
    if ((ret = mbedtls_x509_crt_parse_file(&ca, ca_file)) != 0) {
        if (ret < 0)
            mbedtls_strerror(ret, why, sizeof why);
        else
            snprintf(why, sizeof why, "%d certificate(s) in it do not parse", ret);
        snprintf(err, errlen, "ca_file %s: not a PEM certificate (%s); give the fleet's ca.crt",
                 ca_file, why);
        goto cleanup;
    }
    if (!cert_file) {
        rc = 0;
        goto cleanup;
    }
    if ((ret = mbedtls_x509_crt_parse_file(&crt, cert_file)) != 0) {
        snprintf(err, errlen, "cert_file %s: not a PEM certificate", cert_file);
        goto cleanup;
    }
    /* Dates are reported on their own (tls_identity_expired), with the date. */
    ret = mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
    flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                         MBEDTLS_X509_BADCRL_EXPIRED | MBEDTLS_X509_BADCRL_FUTURE);
    if (ret != 0 && flags != 0) {
        snprintf(err, errlen, "cert_file %s was not issued by ca_file %s; use the ca.crt and "
                 "certificates of the same smpctl pki directory", cert_file, ca_file);
        goto cleanup;
    }
    rc = 0;

cleanup:
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);
    return rc;
}

int tls_identity_report(const char *config_path, const tls_identity *id, const char *cert_file,
                        const char *ca_file, const char *reissue, time_t now, FILE *out)
{
    char err[1200], why[256];
    int problems = 0;

    /* The certificate's own parse errors were reported by the identity
     * check; then only ca_file is looked at here. */
    if (tls_identity_check_issuer(id->not_after ? cert_file : NULL, ca_file, err, sizeof err) != 0) {
        fprintf(out, "%s: %s\n", config_path, err);
        problems++;
    }
    if (id->not_after && tls_identity_expired(id, now, why, sizeof why)) {
        fprintf(out, "%s: cert_file %s %s; the broker will refuse it: issue a new one (%s)\n",
                config_path, cert_file, why, reissue);
        problems++;
    }
    return problems;
}
