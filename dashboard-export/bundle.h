/* bundle: the cryptography of the inspector's audit bundle (export.c
 * writes it, verify.c checks it), with mbedTLS.
 *
 * manifest.sig is an ECDSA P-256 signature over SHA-256 of the exact
 * bytes of manifest.json, DER-encoded: what
 *   openssl dgst -sha256 -sign export.key -out manifest.sig manifest.json
 * makes and
 *   openssl dgst -sha256 -verify export-pub.pem -signature manifest.sig manifest.json
 * checks. A key's fingerprint is the hex SHA-256 of its public key in DER
 * (SubjectPublicKeyInfo), as
 *   openssl pkey -pubin -in export-pub.pem -outform DER | sha256sum
 * prints it: the value a clinic registers with its inspector. */
#ifndef SMP_BUNDLE_H
#define SMP_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define BUNDLE_HEX_LEN  65     /* 64 hex digits + NUL */
#define BUNDLE_SIG_MAX  160    /* a DER ECDSA P-256 signature is at most 72 bytes */
#define BUNDLE_PEM_MAX  1024   /* a P-256 public key PEM is about 180 bytes */

typedef struct bundle_key bundle_key;

/* Loads the export private key (PEM, EC P-256, as smpctl pki
 * issue-export writes it). *out is the caller's (bundle_key_free). */
int bundle_key_open(const char *path, bundle_key **out, char *err, size_t errlen);
void bundle_key_free(bundle_key *k);

/* Signs SHA-256(msg): DER into sig (cap >= BUNDLE_SIG_MAX), its length
 * into *siglen. */
int bundle_sign(bundle_key *k, const void *msg, size_t len, unsigned char *sig, size_t cap,
                size_t *siglen, char *err, size_t errlen);

/* The key's public half as PEM (NUL-terminated, cap >= BUNDLE_PEM_MAX)
 * and its fingerprint. */
int bundle_public(bundle_key *k, char *pem, size_t cap, char fingerprint[BUNDLE_HEX_LEN],
                  char *err, size_t errlen);

/* Parses a PEM public key (pem: len bytes, not necessarily terminated)
 * and checks sig over msg with it. fingerprint (may be NULL) gets the
 * key's fingerprint even when the signature is bad. Returns 0 when valid;
 * -1 when pem is not a P-256 public key (err says so, *bad_key set) or
 * the signature does not verify (*bad_key clear). */
int bundle_verify(const char *pem, size_t pemlen, const void *msg, size_t len,
                  const unsigned char *sig, size_t siglen, char fingerprint[BUNDLE_HEX_LEN],
                  int *bad_key, char *err, size_t errlen);

/* Hex SHA-256 and size of the file at path. */
int bundle_hash_file(const char *path, char hex[BUNDLE_HEX_LEN], uint64_t *bytes, char *err,
                     size_t errlen);

/* Hex SHA-256 of a buffer. */
void bundle_hash(const void *data, size_t len, char hex[BUNDLE_HEX_LEN]);

#endif
