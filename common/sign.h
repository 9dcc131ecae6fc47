/* sign: device checkpoint signatures (docs/protocol.md).
 *
 * A device signs "smp-ckpt-v1|<device>|<head_seq>|<head_hash>" with its EC
 * P-256 key: ECDSA over SHA-256, DER-encoded, then base64 (mbedTLS). The
 * collector's verifier and the audit export check it against the public key
 * of the device's registered certificate, with OpenSSL's libcrypto and a
 * cache of parsed keys (common/sigkey.h says why). */
#ifndef SMP_SIGN_H
#define SMP_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_B64_MAX 128   /* base64 of a DER ECDSA P-256 signature (<= 72 bytes) */

typedef struct signer signer;

/* Loads a PEM private key. *out is the caller's (signer_free). */
int signer_open(const char *key_file, signer **out, char *err, size_t errlen);
void signer_free(signer *s);

/* Signs msg; writes NUL-terminated base64 into b64. */
int signer_sign(signer *s, const void *msg, size_t len, char b64[SIGN_B64_MAX], char *err,
                size_t errlen);

/* Verifies a base64 signature of msg against the public key in a PEM
 * certificate. Returns 0 when valid, -1 with err saying why not: the
 * certificate does not parse, sig is not base64, or it does not verify.
 * Thread-safe; the certificate's key is parsed once (common/sigkey.h). */
int sign_verify_cert(const char *cert_pem, const void *msg, size_t len, const char *b64,
                     char *err, size_t errlen);

/* The exact bytes a checkpoint signs. Returns the length. */
int sign_checkpoint_message(const char *device, uint64_t head_seq, const char *head_hash,
                            char *out, size_t cap);

/* A certificate serial (p: the len bytes of its DER INTEGER) as the fleet's
 * PKI index and `smpctl pki revoke --serial` write it: upper-case hex,
 * without the leading 0x00 DER adds to keep a serial positive. Cut to cap. */
void sign_serial_hex(const unsigned char *p, size_t len, char *out, size_t cap);

#endif
