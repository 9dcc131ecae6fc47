/* bench_verify: what one checkpoint signature check costs, by library.
 *
 *   bench_verify CERT_PEM KEY_PEM [SECONDS]
 *
 * Signs 256 checkpoint messages with KEY_PEM (common/sign.c, mbedTLS, as
 * the agent does), then verifies them round-robin against CERT_PEM for about
 * SECONDS (default 2) per way:
 *   mbedtls-parse-each   the certificate parsed for every check, then
 *                        mbedtls_pk_verify (sign_verify_cert before the
 *                        key cache)
 *   mbedtls-parsed-pk    parsed once, mbedtls_pk_verify per check (it still
 *                        copies the curve into a fresh context each time)
 *   mbedtls-ecdsa-ctx    parsed once into an ECDSA context kept across checks
 *                        (its curve keeps the generator's precomputed table)
 *   openssl-parse-each   the PEM parsed by libcrypto for every check
 *   openssl-cached-key   an EVP_PKEY kept across checks, EVP_DigestVerify
 *   sign_verify_cert     what common/sign.c does today
 * and prints one line per way: checks, microseconds per check (wall and the
 * thread's CPU time), checks per second of CPU. Every check must pass; the
 * run fails otherwise. A measurement, not a test: the machine's other load
 * moves the wall figures, the CPU figures less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sign.h"

#define NSIG 256

typedef struct sample {
    char msg[256];
    size_t len;
    unsigned char der[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t der_len;
    char b64[SIGN_B64_MAX];
} sample;

static sample g_s[NSIG];
static const char *g_pem;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the ways: each returns 0 when sample i verifies ------------------------- */

static int mbed_parse_each(void *ctx, const sample *s)
{
    (void)ctx;
    unsigned char hash[32];
    mbedtls_x509_crt crt;
    int rc;

    mbedtls_x509_crt_init(&crt);
    rc = mbedtls_x509_crt_parse(&crt, (const unsigned char *)g_pem, strlen(g_pem) + 1);
    if (rc == 0)
        rc = mbedtls_sha256_ret((const unsigned char *)s->msg, s->len, hash, 0);
    if (rc == 0)
        rc = mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, sizeof hash, s->der, s->der_len);
    mbedtls_x509_crt_free(&crt);
    return rc;
}

static int mbed_parsed_pk(void *ctx, const sample *s)
{
    mbedtls_x509_crt *crt = ctx;
    unsigned char hash[32];
    int rc = mbedtls_sha256_ret((const unsigned char *)s->msg, s->len, hash, 0);
    return rc ? rc : mbedtls_pk_verify(&crt->pk, MBEDTLS_MD_SHA256, hash, sizeof hash, s->der,
                                       s->der_len);
}

static int mbed_ecdsa_ctx(void *ctx, const sample *s)
{
    mbedtls_ecdsa_context *e = ctx;
    unsigned char hash[32];
    int rc = mbedtls_sha256_ret((const unsigned char *)s->msg, s->len, hash, 0);
    return rc ? rc : mbedtls_ecdsa_read_signature(e, hash, sizeof hash, s->der, s->der_len);
}

static int ossl_verify(EVP_PKEY *key, const sample *s)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, s->der, s->der_len, (const unsigned char *)s->msg, s->len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static int ossl_parse_each(void *ctx, const sample *s)
{
    (void)ctx;
    BIO *bio = BIO_new_mem_buf(g_pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int rc = x ? ossl_verify(X509_get0_pubkey(x), s) : -1;
    X509_free(x);
    BIO_free(bio);
    return rc;
}

static int ossl_cached_key(void *ctx, const sample *s)
{
    return ossl_verify(ctx, s);
}

static int through_sign_c(void *ctx, const sample *s)
{
    char why[200];
    (void)ctx;
    return sign_verify_cert(g_pem, s->msg, s->len, s->b64, why, sizeof why);
}

/* ---- the run ------------------------------------------------------------------- */

static int measure(const char *name, int (*fn)(void *, const sample *), void *ctx, double secs)
{
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), w, c;
    long n = 0;

    do {
        for (int k = 0; k < 16; k++, n++)
            if (fn(ctx, &g_s[n % NSIG]) != 0) {
                fprintf(stderr, "bench_verify: %s: signature %ld did not verify\n", name, n % NSIG);
                return -1;
            }
    } while (clock_s(CLOCK_MONOTONIC) - w0 < secs);
    w = clock_s(CLOCK_MONOTONIC) - w0;
    c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    printf("bench_verify: %-20s %7ld checks  %8.1f us wall  %8.1f us cpu  %8.0f checks/cpu-s\n",
           name, n, w / (double)n * 1e6, c / (double)n * 1e6, (double)n / c);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = calloc(1, (size_t)n + 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int make_samples(const char *key_file)
{
    signer *sg = NULL;
    char err[600], hash[65];

    if (signer_open(key_file, &sg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_verify: %s\n", err);
        return -1;
    }
    for (int i = 0; i < NSIG; i++) {
        sample *s = &g_s[i];
        snprintf(hash, sizeof hash, "%064x", i * 7919);
        s->len = (size_t)sign_checkpoint_message("dev-a", (uint64_t)i * 100, hash, s->msg,
                                                 sizeof s->msg);
        if (signer_sign(sg, s->msg, s->len, s->b64, err, sizeof err) != 0 ||
            mbedtls_base64_decode(s->der, sizeof s->der, &s->der_len,
                                  (const unsigned char *)s->b64, strlen(s->b64)) != 0) {
            fprintf(stderr, "bench_verify: signing: %s\n", err);
            signer_free(sg);
            return -1;
        }
    }
    signer_free(sg);
    return 0;
}

int main(int argc, char **argv)
{
    mbedtls_x509_crt crt;
    mbedtls_ecdsa_context ecdsa;
    EVP_PKEY *key = NULL;
    double secs = argc > 3 ? atof(argv[3]) : 2.0;
    int rc = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_verify CERT_PEM KEY_PEM [SECONDS]\n");
        return 2;
    }
    mbedtls_x509_crt_init(&crt);
    mbedtls_ecdsa_init(&ecdsa);
    if (!(g_pem = slurp(argv[1]))) {
        fprintf(stderr, "bench_verify: cannot read %s\n", argv[1]);
        goto cleanup;
    }
    if (make_samples(argv[2]) != 0)
        goto cleanup;
    BIO *bio = BIO_new_mem_buf(g_pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    key = x ? X509_get_pubkey(x) : NULL;
    X509_free(x);
    BIO_free(bio);
    if (!key || mbedtls_x509_crt_parse(&crt, (const unsigned char *)g_pem, strlen(g_pem) + 1) != 0 ||
        mbedtls_ecdsa_from_keypair(&ecdsa, mbedtls_pk_ec(crt.pk)) != 0) {
        fprintf(stderr, "bench_verify: %s: not an EC certificate both libraries read\n", argv[1]);
        goto cleanup;
    }
    if (measure("mbedtls-parse-each", mbed_parse_each, NULL, secs) != 0 ||
        measure("mbedtls-parsed-pk", mbed_parsed_pk, &crt, secs) != 0 ||
        measure("mbedtls-ecdsa-ctx", mbed_ecdsa_ctx, &ecdsa, secs) != 0 ||
        measure("openssl-parse-each", ossl_parse_each, NULL, secs) != 0 ||
        measure("openssl-cached-key", ossl_cached_key, key, secs) != 0 ||
        measure("sign_verify_cert", through_sign_c, NULL, secs) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    EVP_PKEY_free(key);
    mbedtls_ecdsa_free(&ecdsa);
    mbedtls_x509_crt_free(&crt);
    free((void *)g_pem);
    return rc;
}
