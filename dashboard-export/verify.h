/* verify: `smpctl verify DIR`, the check of an audit bundle (export.h).
 *
 * The bundle is intact when manifest.sig is a valid signature of the
 * bytes of manifest.json by the key in export-pub.pem (whose fingerprint
 * manifest.json names), every file manifest.json lists is there with its
 * SHA-256, SHA256SUMS agrees with manifest.json, and nothing else is in
 * DIR. Each problem names its file: "sterilizer_log.csv: SHA-256
 * mismatch ...". A signature that does not verify names both manifest.json
 * and manifest.sig (it cannot tell which changed) unless manifest.sig is
 * not even DER. The records' chain status in manifest.json is content,
 * not integrity: verify prints it but does not fail on it. */
#ifndef SMP_VERIFY_H
#define SMP_VERIFY_H

#include <stddef.h>

#include "bundle.h"

#define VERIFY_PROBLEMS_MAX 64
#define VERIFY_LINE_MAX 512

typedef struct verify_result {
    char problems[VERIFY_PROBLEMS_MAX][VERIFY_LINE_MAX];  /* "NAME: what is wrong" */
    size_t nproblems;                /* all found (only the first ..._MAX are kept) */
    size_t files_checked;            /* listed files whose hash matched */
    char fingerprint[BUNDLE_HEX_LEN]; /* of export-pub.pem; "" if unreadable */
    char chains[VERIFY_LINE_MAX];    /* "3 intact, 0 with gaps, ..." from manifest.json */
} verify_result;

/* Checks the bundle in dir into *r. Returns 0 when intact, 1 when not. */
int verify_bundle(const char *dir, verify_result *r);

/* argv holds the arguments after "verify": DIR. Prints each problem on
 * stdout and a verdict; returns 0 when intact, 1 when not, 2 on a usage
 * error. */
int verify_cmd(int argc, char **argv);

#endif
