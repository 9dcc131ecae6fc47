/* test_sign: checkpoint signatures made by our signer (common/sign.c,
 * mbedTLS, as the agent signs) and checked by sign_verify_cert (libcrypto,
 * with the key cache of common/sigkey.c), with certificates from the real
 * PKI code (`smpctl pki`'s pki_cmd):
 *
 *   - every signature the signer makes verifies, against its certificate
 *     only, and only for the message it signed;
 *   - garbage, truncated, extended, other-key and empty signatures fail with
 *     the reason the verifier puts in R9's evidence; a value that is not
 *     base64 and a certificate that does not parse, with theirs;
 *   - a signature that is valid but not DER (a non-minimal integer or
 *     length) is refused: libcrypto insists on DER, where mbedTLS let
 *     these through;
 *   - the cache: one parse per certificate text, a held key outlives its
 *     eviction, the cache stays within SIGKEY_CACHE and every certificate
 *     still verifies after it was evicted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/pk.h>

#include "sign.h"
#include "sigkey.h"
#include "testpki.h"

#define NOT_VERIFIED "sig: does not verify with the device's registered key"

static char g_dir[512];
static char *g_cert_a, *g_cert_b;
static char g_key_a[700], g_key_b[700];

/* ---- suite: a CA, dev-a and dev-b -------------------------------------------- */

static int suite_setup(void **state)
{
    char pkidir[600], path[800];
    (void)state;

    if (testpki_new(g_dir, sizeof g_dir, "sign", (const char *const[]){"dev-a", "dev-b", NULL}) != 0)
        return -1;
    snprintf(pkidir, sizeof pkidir, "%s/pki", g_dir);
    snprintf(path, sizeof path, "%s/devices/dev-a.crt", pkidir);
    g_cert_a = testpki_slurp(path);
    snprintf(path, sizeof path, "%s/devices/dev-b.crt", pkidir);
    g_cert_b = testpki_slurp(path);
    snprintf(g_key_a, sizeof g_key_a, "%s/devices/dev-a.key", pkidir);
    snprintf(g_key_b, sizeof g_key_b, "%s/devices/dev-b.key", pkidir);
    return g_cert_a && g_cert_b ? 0 : -1;
}

static int suite_teardown(void **state)
{
    (void)state;
    sigkey_cache_clear();
    free(g_cert_a);
    free(g_cert_b);
    testpki_remove(g_dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------- */

typedef struct signed_msg {
    char msg[256];
    size_t len;
    char b64[SIGN_B64_MAX];
    unsigned char der[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t der_len;
} signed_msg;

/* The checkpoint message of (device, head_seq) signed with key_file. */
static void sign_one(const char *key_file, const char *device, uint64_t head_seq, signed_msg *m)
{
    signer *sg = NULL;
    char err[600], hash[65];

    snprintf(hash, sizeof hash, "%064llx", (unsigned long long)head_seq * 7919);
    m->len = (size_t)sign_checkpoint_message(device, head_seq, hash, m->msg, sizeof m->msg);
    if (signer_open(key_file, &sg, err, sizeof err) != 0 ||
        signer_sign(sg, m->msg, m->len, m->b64, err, sizeof err) != 0)
        fail_msg("signing with %s: %s", key_file, err);
    signer_free(sg);
    assert_int_equal(mbedtls_base64_decode(m->der, sizeof m->der, &m->der_len,
                                           (const unsigned char *)m->b64, strlen(m->b64)), 0);
}

static void b64_of(const unsigned char *der, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(mbedtls_base64_encode((unsigned char *)out, cap, &n, der, len), 0);
}

/* sign_verify_cert's result, with its reason checked: NULL for valid. */
static void expect(const char *cert, const signed_msg *m, const char *b64, const char *reason)
{
    char why[300] = "";
    int rc = sign_verify_cert(cert, m->msg, m->len, b64, why, sizeof why);

    if (!reason) {
        if (rc != 0)
            fail_msg("%s did not verify: %s", b64, why);
        return;
    }
    if (rc == 0)
        fail_msg("%s verified; expected: %s", b64, reason);
    assert_string_equal(why, reason);
}

/* ---- valid signatures ------------------------------------------------------------ */

/* 64 checkpoints each of two devices, signed as the agent signs: each
 * verifies against its own certificate only, and only for its message. */
static void test_signer_signatures_verify(void **state)
{
    (void)state;
    for (uint64_t i = 0; i < 64; i++) {
        signed_msg a, b;
        sign_one(g_key_a, "dev-a", 100 * i + 99, &a);
        sign_one(g_key_b, "dev-b", 100 * i + 99, &b);
        expect(g_cert_a, &a, a.b64, NULL);
        expect(g_cert_b, &b, b.b64, NULL);
        expect(g_cert_b, &a, a.b64, NOT_VERIFIED);
        expect(g_cert_a, &b, b.b64, NOT_VERIFIED);
        a.msg[a.len - 1] ^= 1;                        /* another head_hash */
        expect(g_cert_a, &a, a.b64, NOT_VERIFIED);
    }
}

/* ---- bad signatures, and their reasons ---------------------------------------------- */

static void test_bad_signatures_refused_with_reason(void **state)
{
    signed_msg m, other;
    char b64[SIGN_B64_MAX * 2], big[2000], want[100];
    unsigned char der[MBEDTLS_PK_SIGNATURE_MAX_SIZE + 8];
    (void)state;

    sign_one(g_key_a, "dev-a", 99, &m);
    expect(g_cert_a, &m, "AAAA", NOT_VERIFIED);       /* base64, not a signature */
    expect(g_cert_a, &m, "", NOT_VERIFIED);
    /* Truncated: one byte short, and half. */
    b64_of(m.der, m.der_len - 1, b64, sizeof b64);
    expect(g_cert_a, &m, b64, NOT_VERIFIED);
    b64_of(m.der, m.der_len / 2, b64, sizeof b64);
    expect(g_cert_a, &m, b64, NOT_VERIFIED);
    /* A valid signature followed by a byte. */
    memcpy(der, m.der, m.der_len);
    der[m.der_len] = 0;
    b64_of(der, m.der_len + 1, b64, sizeof b64);
    expect(g_cert_a, &m, b64, NOT_VERIFIED);
    /* One bit of s flipped. */
    memcpy(der, m.der, m.der_len);
    der[m.der_len - 1] ^= 1;
    b64_of(der, m.der_len, b64, sizeof b64);
    expect(g_cert_a, &m, b64, NOT_VERIFIED);
    /* The same message signed by dev-b's key (a second certificate). */
    sign_one(g_key_b, "dev-a", 99, &other);
    assert_string_equal(other.msg, m.msg);
    expect(g_cert_a, &m, other.b64, NOT_VERIFIED);

    /* Not base64; base64 of more than a signature can be. */
    snprintf(want, sizeof want, "sig: not base64 of at most %d bytes", MBEDTLS_PK_SIGNATURE_MAX_SIZE);
    expect(g_cert_a, &m, "not*base64!", want);
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect(g_cert_a, &m, big, want);
}

static void test_unparsable_certificate_reason(void **state)
{
    signed_msg m;
    char why[300] = "";
    (void)state;

    sign_one(g_key_a, "dev-a", 99, &m);
    assert_int_equal(sign_verify_cert("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n",
                                      m.msg, m.len, m.b64, why, sizeof why), -1);
    assert_true(strncmp(why, "registered certificate cannot be parsed (mbedtls -0x", 52) == 0);
    assert_int_equal(sign_verify_cert("", m.msg, m.len, m.b64, why, sizeof why), -1);
    assert_true(strncmp(why, "registered certificate cannot be parsed (mbedtls -0x", 52) == 0);
    /* The certificate is judged before the signature. */
    assert_int_equal(sign_verify_cert("garbage", m.msg, m.len, "not*base64!", why, sizeof why), -1);
    assert_true(strncmp(why, "registered certificate cannot be parsed", 39) == 0);
}

/* A DER ECDSA signature is SEQUENCE { INTEGER r, INTEGER s }. The same r
 * and s written with an extra leading zero octet in r, or with the
 * SEQUENCE's length in long form, is the same signature in a BER that is
 * not DER: refused (libcrypto re-encodes and compares). */
static void test_non_der_encodings_refused(void **state)
{
    signed_msg m;
    unsigned char der[MBEDTLS_PK_SIGNATURE_MAX_SIZE + 8];
    char b64[SIGN_B64_MAX * 2];
    size_t rlen;
    (void)state;

    sign_one(g_key_a, "dev-a", 99, &m);
    /* 30 L 02 rl r... 02 sl s... with L < 128 for P-256. */
    assert_int_equal(m.der[0], 0x30);
    assert_true(m.der[1] < 0x80 && m.der[2] == 0x02);
    rlen = m.der[3];
    /* r with one more leading zero. */
    der[0] = 0x30;
    der[1] = (unsigned char)(m.der[1] + 1);
    der[2] = 0x02;
    der[3] = (unsigned char)(rlen + 1);
    der[4] = 0x00;
    memcpy(der + 5, m.der + 4, m.der_len - 4);
    b64_of(der, m.der_len + 1, b64, sizeof b64);
    expect(g_cert_a, &m, b64, NOT_VERIFIED);
    /* The SEQUENCE's length as 0x81 L. */
    der[0] = 0x30;
    der[1] = 0x81;
    memcpy(der + 2, m.der + 1, m.der_len - 1);
    b64_of(der, m.der_len + 1, b64, sizeof b64);
    expect(g_cert_a, &m, b64, NOT_VERIFIED);
    /* And the original still verifies. */
    expect(g_cert_a, &m, m.b64, NULL);
}

/* ---- the key cache ----------------------------------------------------------------- */

/* cert with a comment line before it: another text, the same certificate
 * (a PEM reader skips what precedes the BEGIN line). */
static char *variant(const char *cert, int n)
{
    size_t cap = strlen(cert) + 32;
    char *s = malloc(cap);
    assert_non_null(s);
    snprintf(s, cap, "variant %d\n%s", n, cert);
    return s;
}

static void test_cache_one_parse_per_text(void **state)
{
    sigkey *k1 = NULL, *k2 = NULL, *k3 = NULL;
    char err[300];
    (void)state;

    sigkey_cache_clear();
    assert_int_equal(sigkey_get(g_cert_a, &k1, err, sizeof err), 0);
    assert_int_equal(sigkey_get(g_cert_a, &k2, err, sizeof err), 0);
    assert_ptr_equal(k1, k2);                          /* parsed once */
    assert_int_equal(sigkey_get(g_cert_b, &k3, err, sizeof err), 0);
    assert_ptr_not_equal(k1, k3);
    assert_int_equal(sigkey_cache_count(), 2);
    sigkey_release(k1);
    sigkey_release(k2);
    sigkey_release(k3);
    /* A failed parse is not kept. */
    assert_int_equal(sigkey_get("garbage", &k1, err, sizeof err), -1);
    assert_null(k1);
    assert_int_equal(sigkey_cache_count(), 2);
}

/* More certificate texts than the cache holds: it stays within
 * SIGKEY_CACHE, a key held since the start still verifies after it was
 * evicted (and after the cache was cleared), and every text still verifies
 * its signature, parsed again. */
static void test_cache_bounded_and_eviction_safe(void **state)
{
    const int texts = SIGKEY_CACHE + SIGKEY_CACHE / 2;
    signed_msg m;
    sigkey *held = NULL;
    char err[300];
    (void)state;

    sigkey_cache_clear();
    sign_one(g_key_a, "dev-a", 99, &m);
    assert_int_equal(sigkey_get(g_cert_a, &held, err, sizeof err), 0);
    for (int i = 0; i < texts; i++) {
        char *v = variant(g_cert_a, i);
        expect(v, &m, m.b64, NULL);
        free(v);
    }
    assert_true(sigkey_cache_count() <= SIGKEY_CACHE);
    assert_true(sigkey_cache_count() >= SIGKEY_CACHE / 2);
    assert_int_equal(sigkey_verify(held, m.msg, m.len, m.der, m.der_len), 1);
    sigkey_cache_clear();
    assert_int_equal(sigkey_cache_count(), 0);
    assert_int_equal(sigkey_verify(held, m.msg, m.len, m.der, m.der_len), 1);
    m.msg[0] ^= 1;
    assert_int_equal(sigkey_verify(held, m.msg, m.len, m.der, m.der_len), 0);
    m.msg[0] ^= 1;
    sigkey_release(held);
    for (int i = 0; i < 8; i++) {
        char *v = variant(g_cert_a, i);
        expect(v, &m, m.b64, NULL);
        expect(g_cert_b, &m, m.b64, NOT_VERIFIED);
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signer_signatures_verify),
        cmocka_unit_test(test_bad_signatures_refused_with_reason),
        cmocka_unit_test(test_unparsable_certificate_reason),
        cmocka_unit_test(test_non_der_encodings_refused),
        cmocka_unit_test(test_cache_one_parse_per_text),
        cmocka_unit_test(test_cache_bounded_and_eviction_safe),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
