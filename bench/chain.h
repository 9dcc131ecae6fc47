/* chain: one device's records as the agent would journal them, without a
 * journal: the simulator's events in order, each given seq, ts (its
 * simulated time) and prev (SHA-256 of the previous canonical bytes), with a
 * signed checkpoint after every 100 records or 10 minutes of device time,
 * like agent/checkpoint.c. Used by gen_load (ingest benchmark) and gen_db
 * (report benchmark).
 *
 * Signing dominates making records (about one checkpoint in ten records:
 * the simulator emits usage counters every minute and a checkpoint is due
 * every 10 minutes of device time). mbedTLS takes ~0.7 ms a signature here;
 * built with -DBENCH_OPENSSL (the Makefile does when OpenSSL's headers are
 * installed) the same ECDSA P-256 / SHA-256 / DER signatures are made with
 * libcrypto, ~40x faster, so a clinic-year fixture takes seconds, not
 * minutes. The collector verifies them with libcrypto either way
 * (common/sigkey.h). */
#ifndef SMP_BENCH_CHAIN_H
#define SMP_BENCH_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "ids.h"
#include "record.h"
#include "sign.h"
#include "simulator.h"

typedef struct chain {
    char device[IDS_DEVICE_ID_MAX + 1];
    simulator *sim;
    signer *key;                   /* NULL: no checkpoints */
    void *fast_key;                /* OpenSSL EVP_PKEY when built with BENCH_OPENSSL */
    uint64_t seq;                  /* seq of the last record made */
    char head[RECORD_HASH_HEX];    /* its hash */
    int64_t last_ms;               /* its device time */
    uint64_t ckpt_seq;             /* seq of the last checkpoint */
    int64_t ckpt_ms;
    bool started;
} chain;

/* key_file NULL or "": no checkpoints. role: what the device simulates
 * (one machine of a clinic logs its autoclave, SIM_ROLE_BOTH; the others
 * SIM_ROLE_MACHINE). Returns 0 or -1 with err. */
int chain_open(chain *c, const char *device, uint64_t seed, int64_t start_ms, int days,
               sim_role role, const char *key_file, char *err, size_t errlen);
void chain_close(chain *c);

/* The next record: canonical bytes into canon (cap >= RECORD_CANON_MAX),
 * *len, and the record itself into *out when out is not NULL. Returns 1, 0
 * when the simulation is over, -1 on error. */
int chain_next(chain *c, char *canon, size_t cap, int *len, record *out, char *err,
               size_t errlen);

#endif
