#include "sigkey.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* A sigkey is libcrypto's EVP_PKEY: its reference count is the holders'
 * (the cache and each caller of sigkey_get). */
static EVP_PKEY *pkey_of(sigkey *k) { return (EVP_PKEY *)k; }

/* ---- parsing ------------------------------------------------------------------- */

/* cert_pem's key as libcrypto's, through its DER SubjectPublicKeyInfo. */
static EVP_PKEY *parse(const char *cert_pem, char *err, size_t errlen)
{
    unsigned char der[2048];
    const unsigned char *p;
    mbedtls_x509_crt crt;
    EVP_PKEY *key = NULL;
    int rc;

    mbedtls_x509_crt_init(&crt);
    if ((rc = mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1)) != 0) {
        snprintf(err, errlen, "registered certificate cannot be parsed (mbedtls -0x%04x)", (unsigned)-rc);
        goto cleanup;
    }
    /* Written backwards, at the end of der. */
    if ((rc = mbedtls_pk_write_pubkey_der(&crt.pk, der, sizeof der)) <= 0) {
        snprintf(err, errlen, "registered certificate: its public key cannot be read (mbedtls -0x%04x)",
                 (unsigned)-rc);
        goto cleanup;
    }
    p = der + sizeof der - rc;
    if (!(key = d2i_PUBKEY(NULL, &p, rc))) {
        snprintf(err, errlen, "registered certificate: its public key is not one libcrypto can use");
        ERR_clear_error();
    }
cleanup:
    mbedtls_x509_crt_free(&crt);
    return key;
}

/* ---- the cache ------------------------------------------------------------------ */

/* Set-associative: a certificate's hash picks a set of WAYS slots. */
#define WAYS 4
#define SETS (SIGKEY_CACHE / WAYS)

typedef struct slot {
    uint64_t hash;
    char *pem;          /* NULL: empty */
    EVP_PKEY *key;      /* the cache's reference */
    uint64_t used;      /* tick of the last hit: the least recent goes first */
} slot;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static slot g_slots[SETS][WAYS];   /* under g_mu */
static uint64_t g_tick;            /* under g_mu */

/* FNV-1a: spreads certificates over the sets; equality is checked on the
 * whole text. */
static uint64_t hash_of(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void slot_clear(slot *e)
{
    EVP_PKEY_free(e->key);
    free(e->pem);
    memset(e, 0, sizeof *e);
}

/* Under g_mu: the slot holding pem, or NULL. */
static slot *find(uint64_t h, const char *pem)
{
    slot *set = g_slots[h % SETS];
    for (int i = 0; i < WAYS; i++)
        if (set[i].pem && set[i].hash == h && strcmp(set[i].pem, pem) == 0)
            return &set[i];
    return NULL;
}

/* Under g_mu: the slot to fill for hash h (an empty one, or the least
 * recently used, emptied). */
static slot *victim(uint64_t h)
{
    slot *set = g_slots[h % SETS], *v = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (!set[i].pem)
            return &set[i];
        if (set[i].used < v->used)
            v = &set[i];
    }
    slot_clear(v);
    return v;
}

/* Keeps key for pem unless another thread kept one meanwhile; key is then
 * dropped for the kept one. Returns the key the caller holds. A failed copy
 * of pem only means the key is not kept. */
static EVP_PKEY *keep(uint64_t h, const char *pem, EVP_PKEY *key)
{
    pthread_mutex_lock(&g_mu);
    slot *e = find(h, pem);
    if (e && EVP_PKEY_up_ref(e->key) == 1) {
        EVP_PKEY_free(key);
        key = e->key;
    } else if (!e) {
        char *copy = strdup(pem);
        if (copy && EVP_PKEY_up_ref(key) == 1) {
            e = victim(h);
            *e = (slot){.hash = h, .pem = copy, .key = key};
            copy = NULL;
        }
        free(copy);
    }
    if (e)
        e->used = ++g_tick;
    pthread_mutex_unlock(&g_mu);
    return key;
}

int sigkey_get(const char *cert_pem, sigkey **out, char *err, size_t errlen)
{
    uint64_t h = hash_of(cert_pem);
    EVP_PKEY *key = NULL;

    *out = NULL;
    pthread_mutex_lock(&g_mu);
    slot *e = find(h, cert_pem);
    if (e && EVP_PKEY_up_ref(e->key) == 1) {
        e->used = ++g_tick;
        key = e->key;
    }
    pthread_mutex_unlock(&g_mu);
    /* A miss is parsed outside the lock: other threads' hits never wait
     * for it. */
    if (!key) {
        if (!(key = parse(cert_pem, err, errlen)))
            return -1;
        key = keep(h, cert_pem, key);
    }
    *out = (sigkey *)key;
    return 0;
}

void sigkey_release(sigkey *k)
{
    EVP_PKEY_free(pkey_of(k));
}

size_t sigkey_cache_count(void)
{
    size_t n = 0;

    pthread_mutex_lock(&g_mu);
    for (size_t s = 0; s < SETS; s++)
        for (int i = 0; i < WAYS; i++)
            n += g_slots[s][i].pem != NULL;
    pthread_mutex_unlock(&g_mu);
    return n;
}

void sigkey_cache_clear(void)
{
    pthread_mutex_lock(&g_mu);
    for (size_t s = 0; s < SETS; s++)
        for (int i = 0; i < WAYS; i++)
            slot_clear(&g_slots[s][i]);
    pthread_mutex_unlock(&g_mu);
}

/* ---- checking -------------------------------------------------------------------- */

int sigkey_verify(sigkey *k, const void *msg, size_t len, const unsigned char *sig,
                  size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;

    if (md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey_of(k)) == 1)
        /* 1 valid; 0 a wrong signature; negative: not DER for this key
         * type, which is no signature of it either. */
        rc = EVP_DigestVerify(md, sig, sig_len, msg, len) == 1;
    EVP_MD_CTX_free(md);
    /* A failed check leaves libcrypto's reasons on this thread's error
     * queue, where the next TLS call on the thread would find them. */
    ERR_clear_error();
    return rc;
}
