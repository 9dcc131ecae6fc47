#include "chain.h"

#include <stdio.h>
#include <string.h>

#ifdef BENCH_OPENSSL
#include <openssl/evp.h>
#include <openssl/pem.h>

static int fast_open(chain *c, const char *key_file, char *err, size_t errlen)
{
    FILE *f = fopen(key_file, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    if (!k) {
        snprintf(err, errlen, "%s: cannot read the private key with OpenSSL", key_file);
        return -1;
    }
    c->fast_key = k;
    return 0;
}

static int fast_sign(chain *c, const char *msg, size_t len, char b64[SIGN_B64_MAX], char *err,
                     size_t errlen)
{
    unsigned char der[80];
    size_t der_len = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, c->fast_key) == 1 &&
             EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)msg, len) == 1 &&
             4 * ((der_len + 2) / 3) < SIGN_B64_MAX;

    EVP_MD_CTX_free(ctx);
    if (!ok) {
        snprintf(err, errlen, "%s: OpenSSL signing failed", c->device);
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)b64, der, (int)der_len);
    return 0;
}

static void fast_free(chain *c)
{
    EVP_PKEY_free(c->fast_key);
    c->fast_key = NULL;
}
#else
static int fast_open(chain *c, const char *key_file, char *err, size_t errlen)
{
    (void)c, (void)key_file, (void)err, (void)errlen;
    return 0;
}
static int fast_sign(chain *c, const char *msg, size_t len, char b64[SIGN_B64_MAX], char *err,
                     size_t errlen)
{
    return signer_sign(c->key, msg, len, b64, err, errlen);
}
static void fast_free(chain *c) { (void)c; }
#endif

int chain_open(chain *c, const char *device, uint64_t seed, int64_t start_ms, int days,
               sim_role role, const char *key_file, char *err, size_t errlen)
{
    sim_config sc = {.seed = seed, .start_ms = start_ms, .days = days, .fault_pct = 0,
                     .device_id = c->device, .role = role};

    memset(c, 0, sizeof *c);
    snprintf(c->device, sizeof c->device, "%s", device);
    memcpy(c->head, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    if (key_file && *key_file &&
        (signer_open(key_file, &c->key, err, errlen) != 0 || fast_open(c, key_file, err, errlen) != 0)) {
        signer_free(c->key);
        c->key = NULL;
        return -1;
    }
    if (!(c->sim = sim_new(&sc))) {
        snprintf(err, errlen, "%s: cannot create simulator", device);
        signer_free(c->key);
        c->key = NULL;
        fast_free(c);
        return -1;
    }
    return 0;
}

void chain_close(chain *c)
{
    if (c->sim)
        sim_free(c->sim);
    if (c->key)
        signer_free(c->key);
    fast_free(c);
    c->sim = NULL;
    c->key = NULL;
}

/* Same rule as checkpoint_maybe(): new records since the last checkpoint,
 * and 100 of them or 10 minutes of device time. */
static bool checkpoint_due(const chain *c)
{
    return c->key && c->seq > c->ckpt_seq &&
           (c->seq - c->ckpt_seq >= CHECKPOINT_EVERY_RECORDS ||
            c->last_ms - c->ckpt_ms >= CHECKPOINT_EVERY_MS);
}

int chain_next(chain *c, char *canon, size_t cap, int *len, record *out, char *err,
               size_t errlen)
{
    record r;
    int64_t due;

    if (checkpoint_due(c)) {
        char msg[256], sig[SIGN_B64_MAX];
        int n = sign_checkpoint_message(c->device, c->seq, c->head, msg, sizeof msg);
        if (fast_sign(c, msg, (size_t)n, sig, err, errlen) != 0)
            return -1;
        record_init(&r, RT_CHECKPOINT);
        record_set_int(&r, "head_seq", (int64_t)c->seq);
        record_set_str(&r, "head_hash", c->head);
        record_set_str(&r, "sig", sig);
        due = c->last_ms;
    } else {
        const record *ev;
        if (!sim_peek(c->sim, &due, &ev))
            return 0;
        r = *ev;
        sim_pop(c->sim);
        if (!c->started) {
            c->started = true;
            c->ckpt_ms = due;
        }
    }
    r.seq = c->seq + 1;
    memcpy(r.prev, c->head, RECORD_HASH_HEX);
    record_ts_format(due, r.ts);
    if ((*len = record_canonical(&r, canon, cap)) < 0) {
        snprintf(err, errlen, "%s seq %llu: canonical form too large", c->device,
                 (unsigned long long)r.seq);
        return -1;
    }
    record_sha256_hex(canon, (size_t)*len, c->head);
    c->seq = r.seq;
    c->last_ms = due;
    if (r.type == RT_CHECKPOINT) {
        c->ckpt_seq = r.seq;
        c->ckpt_ms = due;
    }
    if (out)
        *out = r;
    return 1;
}
