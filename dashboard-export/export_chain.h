/* export_chain: each device's record chain over a report period,
 * re-verified from the stored bodies alone (docs/protocol.md), for the
 * audit bundle's manifest.json.
 *
 * For a device, the period's records are those whose ts falls in it;
 * first_seq..last_seq span them. Every stored record from first_seq - 1
 * to last_seq + 1 is hashed (SHA-256 of its canonical body) and each
 * record's prev is compared with the hash of the record before it, so a
 * changed body, a changed prev or a removed record all show. The latest
 * checkpoint of the period is checked too: it must name the record
 * before it (head_seq, head_hash as recomputed) and carry a signature
 * that verifies with the device's registered certificate or, as the
 * collector's verifier does, with one of its previous certificates
 * replaced less than a week before the checkpoint's ts
 * (device_cert_history; docs/collector.md, "Certificate renewal and
 * checkpoints"). The collector verifies signatures after it acked their
 * records (collector/verifier.h), so every other checkpoint of the period
 * that it has not verified (its checkpoints row pending or failed) is
 * verified here too: a chain is never called intact on a signature nobody
 * verified. */
#ifndef SMP_EXPORT_CHAIN_H
#define SMP_EXPORT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "record.h"
#include "report_data.h"
#include "sqldb.h"

#define CHAIN_LIST_MAX 20   /* seqs listed per problem; the totals count all */

typedef struct chain_gap {
    int64_t from, to;       /* missing seqs, inclusive */
} chain_gap;

typedef struct chain_status {
    char device_id[IDS_DEVICE_ID_MAX + 1];
    int64_t records;                        /* ts in the period */
    int64_t first_seq, last_seq;            /* 0 when records == 0 */
    int64_t links_checked;                  /* prev links compared */
    const char *predecessor;                /* "genesis", "linked", "not stored", "broken" */
    const char *successor;                  /* "linked", "none yet", "broken" */
    int64_t broken[CHAIN_LIST_MAX];         /* seq whose prev is not the hash before it */
    int64_t nbroken;
    int64_t bad_hash[CHAIN_LIST_MAX];       /* stored hash column != SHA-256(body) */
    int64_t nbad_hash;
    chain_gap gaps[CHAIN_LIST_MAX];
    int64_t ngaps, missing;                 /* gaps, and seqs missing in all */
    /* Records the collector kept apart (quarantined_records: schema
     * violations with a readable seq). They are part of the chain — their
     * exact bytes are hashed and linked like stored ones — so they are no
     * gap; but they are not compliance records, and are listed as such. */
    int64_t rejected[CHAIN_LIST_MAX];
    int64_t nrejected;
    /* The latest checkpoint record with ts in the period. */
    bool has_checkpoint;
    int64_t ckpt_seq, ckpt_head_seq, after_checkpoint;  /* records after its head */
    char ckpt_ts[RECORD_TS_LEN + 1];
    char ckpt_head_hash[RECORD_HASH_HEX];
    bool ckpt_head_ok;                      /* head_seq, head_hash name the record before */
    const char *ckpt_signature;             /* "valid", "invalid", "no certificate" */
    /* The certificate that verified it (ckpt_signature "valid"). */
    const char *ckpt_cert_registered;       /* "current", "previous" or "" */
    char ckpt_cert_serial[68];              /* upper-case hex, as in the PKI index */
    char ckpt_cert_sha256[65];              /* SHA-256 of its DER, hex */
    char ckpt_cert_until[RECORD_TS_LEN + 1];/* a previous one's registered_until */
    /* The latest one's state at the collector: "verified", "failed",
     * "pending" or "not recorded" ("" without a checkpoint). */
    const char *ckpt_collector;
    /* Every checkpoint record with ts in the period, by the collector's
     * state, and how many of them the export verified itself (the latest,
     * and every one the collector left pending or failed). */
    int64_t ckpts, ckpt_verified, ckpt_failed, ckpt_pending, ckpt_unrecorded;
    int64_t ckpt_export_checked;
    int64_t invalid[CHAIN_LIST_MAX];        /* seq of a checkpoint no certificate verifies */
    int64_t ninvalid;
} chain_status;

/* "intact", "no records", "gaps" or "broken" (a break, a changed body, a
 * latest checkpoint that does not describe the record before it, or a
 * checkpoint of the period whose signature no certificate verifies). */
const char *chain_verdict(const chain_status *s);

/* Checks every device of d (d->rows) in db, inside the caller's read
 * transaction. *out gets d->nrows entries (free with free()). */
int chain_check(sqldb *db, const report_data *d, chain_status **out, char *err, size_t errlen);

/* The status as a manifest.json object; NULL when out of memory. */
cJSON *chain_json(const chain_status *s);

#endif
