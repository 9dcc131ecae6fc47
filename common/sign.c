#include "sign.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "sigkey.h"

struct signer {
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

static void mbed_reason(int rc, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s (mbedtls -0x%04x)", what, (unsigned)-rc);
}

int signer_open(const char *key_file, signer **out, char *err, size_t errlen)
{
    static const char pers[] = "smp-ckpt";
    signer *s = calloc(1, sizeof *s);
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    mbedtls_pk_init(&s->key);
    mbedtls_entropy_init(&s->entropy);
    mbedtls_ctr_drbg_init(&s->drbg);
    if ((rc = mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy,
                                    (const unsigned char *)pers, sizeof pers - 1)) != 0) {
        mbed_reason(rc, "cannot seed the random generator", err, errlen);
        goto fail;
    }
    if ((rc = mbedtls_pk_parse_keyfile(&s->key, key_file, NULL)) != 0) {
        char what[600];
        snprintf(what, sizeof what, "key_file %s: not a readable PEM private key", key_file);
        mbed_reason(rc, what, err, errlen);
        goto fail;
    }
    if (!mbedtls_pk_can_do(&s->key, MBEDTLS_PK_ECDSA)) {
        snprintf(err, errlen, "key_file %s: not an EC key; issue one with smpctl pki", key_file);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    signer_free(s);
    return -1;
}

void signer_free(signer *s)
{
    if (!s)
        return;
    mbedtls_pk_free(&s->key);
    mbedtls_ctr_drbg_free(&s->drbg);
    mbedtls_entropy_free(&s->entropy);
    free(s);
}

int signer_sign(signer *s, const void *msg, size_t len, char b64[SIGN_B64_MAX], char *err,
                size_t errlen)
{
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0, b64_len = 0;
    int rc;

    if ((rc = mbedtls_sha256_ret(msg, len, hash, 0)) != 0 ||
        (rc = mbedtls_pk_sign(&s->key, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &sig_len,
                              mbedtls_ctr_drbg_random, &s->drbg)) != 0 ||
        (rc = mbedtls_base64_encode((unsigned char *)b64, SIGN_B64_MAX, &b64_len, sig, sig_len)) != 0) {
        mbed_reason(rc, "checkpoint signing failed", err, errlen);
        return -1;
    }
    return 0;
}

int sign_verify_cert(const char *cert_pem, const void *msg, size_t len, const char *b64,
                     char *err, size_t errlen)
{
    unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    sigkey *key = NULL;
    int rc;

    if (sigkey_get(cert_pem, &key, err, errlen) != 0)
        return -1;
    if (mbedtls_base64_decode(sig, sizeof sig, &sig_len, (const unsigned char *)b64, strlen(b64)) != 0) {
        snprintf(err, errlen, "sig: not base64 of at most %d bytes", MBEDTLS_PK_SIGNATURE_MAX_SIZE);
        sigkey_release(key);
        return -1;
    }
    rc = sigkey_verify(key, msg, len, sig, sig_len);
    sigkey_release(key);
    if (rc == 1)
        return 0;
    snprintf(err, errlen, "%s", rc == 0 ? "sig: does not verify with the device's registered key"
                                        : "sig: libcrypto could not check it (out of memory, or a key it "
                                          "cannot use with SHA-256)");
    return -1;
}

int sign_checkpoint_message(const char *device, uint64_t head_seq, const char *head_hash,
                            char *out, size_t cap)
{
    return snprintf(out, cap, "smp-ckpt-v1|%s|%" PRIu64 "|%s", device, head_seq, head_hash);
}

void sign_serial_hex(const unsigned char *p, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    if (cap == 0)
        return;
    out[0] = '\0';
    while (len > 1 && p[0] == 0) {
        p++;
        len--;
    }
    for (size_t i = 0; i < len && n + 3 <= cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%02X", p[i]);
}
