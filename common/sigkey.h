/* sigkey: the public keys of registered certificates, parsed once, and the
 * signature checks made with them (common/sign.c's sign_verify_cert).
 *
 * The checks use OpenSSL's libcrypto, not mbedTLS: an ECDSA P-256 verify
 * measured ~45 us with libcrypto 3.0 (its assembly P-256) against ~1.2 ms
 * with mbedTLS 2.28 on the bench machine (bench/bench_verify,
 * docs/performance.md), and the collector checks one signature per ~10
 * records. The certificate itself is still parsed by mbedTLS, like every
 * other certificate here, so the same certificates are accepted as before;
 * only its SubjectPublicKeyInfo is handed to libcrypto. libcrypto insists on
 * DER signatures (mbedTLS let some non-minimal encodings through); every
 * signer here (common/sign.c, mbedTLS) writes DER.
 *
 * Keys are cached by certificate text: parsing a certificate and building
 * libcrypto's key costs about twice a verify, and the verifier checks each
 * device's checkpoints against the same certificate over and over. A new or
 * replaced certificate is new text, so no entry is ever stale; up to
 * SIGKEY_CACHE keys are kept (least recently used go first), shared by
 * every thread of the process. */
#ifndef SMP_SIGKEY_H
#define SMP_SIGKEY_H

#include <stddef.h>

#define SIGKEY_CACHE 1024

typedef struct sigkey sigkey;

/* The public key of the PEM certificate cert_pem, from the cache or parsed
 * now. *out is a reference the caller releases (sigkey_release); the key
 * stays valid while held, even if the cache lets go of it. Returns 0, or
 * -1 with err saying why (the certificate does not parse). Thread-safe. */
int sigkey_get(const char *cert_pem, sigkey **out, char *err, size_t errlen);
void sigkey_release(sigkey *k);

/* 1 when sig (sig_len bytes, DER) is k's signature of SHA-256(msg), 0 when
 * it is not (wrong key, altered, truncated, not DER), -1 when libcrypto
 * could not check it (out of memory, or a key it cannot use with SHA-256).
 * Thread-safe for one k. */
int sigkey_verify(sigkey *k, const void *msg, size_t len, const unsigned char *sig,
                  size_t sig_len);

/* Keys cached now (at most SIGKEY_CACHE). */
size_t sigkey_cache_count(void);
/* Drops every cached key (held references stay valid): for tests and
 * leak checkers. */
void sigkey_cache_clear(void);

#endif
