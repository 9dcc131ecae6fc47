/* tls_identity: who a daemon will be on the wire, read from its own
 * cert_file and key_file before it ever connects.
 *
 * A certificate whose CN is not the configured identity, or a key that is
 * not the certificate's, only shows up later as a refused TLS handshake or
 * an ACL denial ("publish failed code=0"); reading both files at start-up
 * lets the daemon say which file is wrong. mbedTLS 2.28. */
#ifndef SMP_TLS_IDENTITY_H
#define SMP_TLS_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#define TLS_IDENTITY_CN_MAX 256
#define TLS_IDENTITY_TIME_LEN 20   /* "2027-11-29T22:31:10Z" */

typedef struct tls_identity {
    char cn[TLS_IDENTITY_CN_MAX];  /* the first subject CN, non-printable bytes as '?'; "" if none */
    int cn_count;                  /* subject CNs in the certificate */
    time_t not_before, not_after;  /* validity, UTC */
    char not_before_text[TLS_IDENTITY_TIME_LEN + 1], not_after_text[TLS_IDENTITY_TIME_LEN + 1];
} tls_identity;

/* Reads the PEM certificate cert_file and the PEM private key key_file and
 * checks that the key is the private half of the certificate's public key.
 * id is filled as soon as the certificate parsed, so a caller can still
 * name the CN when the key is wrong. Returns 0, or -1 with err naming the
 * setting and file ("key_file /k is not the private key of cert_file /c;
 * ..."). Validity dates are not judged here: see tls_identity_expired. */
int tls_identity_load(const char *cert_file, const char *key_file, tls_identity *id, char *err,
                      size_t errlen);

/* Checks that ca_file is a PEM certificate and, unless cert_file is NULL,
 * that cert_file was signed by it (validity dates aside): a certificate
 * from another PKI directory is refused by the broker. Returns 0, or -1
 * with err naming the file(s). */
int tls_identity_check_issuer(const char *cert_file, const char *ca_file, char *err, size_t errlen);

/* True when now is past the certificate's not-after (why: "expired on
 * 2026-11-28T22:31:10Z") or before its not-before (why: "is not valid
 * before ..."): the broker will refuse it. */
bool tls_identity_expired(const tls_identity *id, time_t now, char *why, size_t whylen);

/* The --check-config lines both daemons print after their identity check:
 * cert_file issued by ca_file, and within its validity at now. id is what
 * the identity check filled (id->not_after 0: the certificate did not parse,
 * and only ca_file is checked). reissue names the command that makes a new
 * one. Writes one "config_path: ..." line per problem to out; returns how
 * many. */
int tls_identity_report(const char *config_path, const tls_identity *id, const char *cert_file,
                        const char *ca_file, const char *reissue, time_t now, FILE *out);

#endif
