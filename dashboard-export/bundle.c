#include "bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#define DER_MAX 256   /* a P-256 SubjectPublicKeyInfo is 91 bytes */

struct bundle_key {
    mbedtls_pk_context pk;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

static int tls_fail(char *err, size_t errlen, const char *what, int ret)
{
    char reason[160];

    mbedtls_strerror(ret, reason, sizeof reason);
    snprintf(err, errlen, "%s: %s (mbedTLS -0x%04x)", what, reason, (unsigned)-ret);
    return -1;
}

static void to_hex(const unsigned char *b, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[2 * n] = '\0';
}

void bundle_hash(const void *data, size_t len, char hex[BUNDLE_HEX_LEN])
{
    unsigned char h[32];

    mbedtls_sha256_ret(data, len, h, 0);
    to_hex(h, sizeof h, hex);
}

/* P-256 only: the bundle format names ECDSA P-256 / SHA-256. */
static int is_p256(mbedtls_pk_context *pk)
{
    return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
           mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

static int fingerprint_of(mbedtls_pk_context *pk, char hex[BUNDLE_HEX_LEN])
{
    unsigned char der[DER_MAX];
    int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);

    if (n <= 0)
        return -1;
    /* mbedTLS writes DER at the end of the buffer. */
    bundle_hash(der + sizeof der - (size_t)n, (size_t)n, hex);
    return 0;
}

int bundle_key_open(const char *path, bundle_key **out, char *err, size_t errlen)
{
    static const char pers[] = "smpctl-export";
    bundle_key *k = calloc(1, sizeof *k);
    char what[600];
    int ret;

    *out = NULL;
    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mbedtls_pk_init(&k->pk);
    mbedtls_entropy_init(&k->entropy);
    mbedtls_ctr_drbg_init(&k->drbg);
    if ((ret = mbedtls_ctr_drbg_seed(&k->drbg, mbedtls_entropy_func, &k->entropy,
                                     (const unsigned char *)pers, sizeof pers - 1)) != 0) {
        tls_fail(err, errlen, "seeding the random generator", ret);
        goto fail;
    }
    if ((ret = mbedtls_pk_parse_keyfile(&k->pk, path, NULL)) != 0) {
        snprintf(what, sizeof what, "--key %s: not a readable PEM private key", path);
        tls_fail(err, errlen, what, ret);
        goto fail;
    }
    if (!is_p256(&k->pk)) {
        snprintf(err, errlen, "--key %s: not an EC P-256 key; make one with smpctl pki "
                 "issue-export", path);
        goto fail;
    }
    *out = k;
    return 0;
fail:
    bundle_key_free(k);
    return -1;
}

void bundle_key_free(bundle_key *k)
{
    if (k == NULL)
        return;
    mbedtls_pk_free(&k->pk);
    mbedtls_ctr_drbg_free(&k->drbg);
    mbedtls_entropy_free(&k->entropy);
    free(k);
}

int bundle_sign(bundle_key *k, const void *msg, size_t len, unsigned char *sig, size_t cap,
                size_t *siglen, char *err, size_t errlen)
{
    unsigned char hash[32];
    int ret;

    if (cap < MBEDTLS_ECDSA_MAX_LEN) {
        snprintf(err, errlen, "signature buffer too small");
        return -1;
    }
    if ((ret = mbedtls_sha256_ret(msg, len, hash, 0)) != 0)
        return tls_fail(err, errlen, "hashing manifest.json", ret);
    if ((ret = mbedtls_pk_sign(&k->pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, siglen,
                               mbedtls_ctr_drbg_random, &k->drbg)) != 0)
        return tls_fail(err, errlen, "signing manifest.json", ret);
    return 0;
}

int bundle_public(bundle_key *k, char *pem, size_t cap, char fingerprint[BUNDLE_HEX_LEN],
                  char *err, size_t errlen)
{
    int ret = mbedtls_pk_write_pubkey_pem(&k->pk, (unsigned char *)pem, cap);

    if (ret != 0)
        return tls_fail(err, errlen, "encoding the public key", ret);
    if (fingerprint_of(&k->pk, fingerprint) != 0) {
        snprintf(err, errlen, "encoding the public key as DER failed");
        return -1;
    }
    return 0;
}

int bundle_verify(const char *pem, size_t pemlen, const void *msg, size_t len,
                  const unsigned char *sig, size_t siglen, char fingerprint[BUNDLE_HEX_LEN],
                  int *bad_key, char *err, size_t errlen)
{
    mbedtls_pk_context pk;
    unsigned char hash[32];
    char *text = malloc(pemlen + 1);
    int ret, rc = -1;

    mbedtls_pk_init(&pk);
    *bad_key = 1;
    if (fingerprint)
        fingerprint[0] = '\0';
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    /* mbedTLS wants PEM NUL-terminated, with the NUL counted. */
    memcpy(text, pem, pemlen);
    text[pemlen] = '\0';
    if ((ret = mbedtls_pk_parse_public_key(&pk, (const unsigned char *)text, pemlen + 1)) != 0) {
        tls_fail(err, errlen, "not a PEM public key", ret);
        goto cleanup;
    }
    if (!is_p256(&pk)) {
        snprintf(err, errlen, "not an EC P-256 public key");
        goto cleanup;
    }
    if (fingerprint && fingerprint_of(&pk, fingerprint) != 0) {
        snprintf(err, errlen, "cannot encode the public key");
        goto cleanup;
    }
    *bad_key = 0;
    if ((ret = mbedtls_sha256_ret(msg, len, hash, 0)) != 0) {
        tls_fail(err, errlen, "hashing", ret);
        goto cleanup;
    }
    if ((ret = mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, siglen)) != 0) {
        tls_fail(err, errlen, "signature does not verify", ret);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(text);
    mbedtls_pk_free(&pk);
    return rc;
}

int bundle_hash_file(const char *path, char hex[BUNDLE_HEX_LEN], uint64_t *bytes, char *err,
                     size_t errlen)
{
    mbedtls_sha256_context ctx;
    unsigned char buf[65536], h[32];
    FILE *f = fopen(path, "rb");
    size_t n;
    int rc = -1;

    *bytes = 0;
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    mbedtls_sha256_init(&ctx);
    if (mbedtls_sha256_starts_ret(&ctx, 0) != 0)
        goto cleanup;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (mbedtls_sha256_update_ret(&ctx, buf, n) != 0)
            goto cleanup;
        *bytes += n;
    }
    if (ferror(f) || mbedtls_sha256_finish_ret(&ctx, h) != 0)
        goto cleanup;
    to_hex(h, sizeof h, hex);
    rc = 0;
cleanup:
    if (rc != 0)
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno ? errno : EIO));
    mbedtls_sha256_free(&ctx);
    fclose(f);
    return rc;
}
