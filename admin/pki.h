/* pki: the fleet's own certificate authority, behind `smpctl pki ...`.
 *
 * Issues EC P-256 keys and ECDSA-SHA256 X.509 certificates with mbedTLS into
 * one directory:
 *
 *   DIR/ca.crt, DIR/ca.key                 fleet CA (CN=smpfleet CA)
 *   DIR/broker.crt, DIR/broker.key         mosquitto server cert; subjectAltName
 *                                          = the --host/--ip names given
 *                                          (default localhost, 127.0.0.1)
 *   DIR/collector.crt, DIR/collector.key   client cert, CN=smp-collector
 *   DIR/collector-<S>.crt, .key            client cert of another collector,
 *                                          CN=smp-collector-<S> (--name)
 *   DIR/devices/<id>.crt, <id>.key         client cert, CN=<device id> (the
 *                                          device's current pair)
 *   DIR/devices/<id>.<SERIAL>.crt, .key    a device's previous pair, kept by
 *                                          renew-device (SERIAL: upper-case hex
 *                                          of that certificate's serial)
 *   DIR/viewer-<name>.crt, .key            read-only client cert of a dashboard,
 *                                          CN=smp-viewer-<name> (issue-viewer;
 *                                          its scope is in the registry)
 *   DIR/export.key, DIR/export-pub.pem     audit export signing key pair (no
 *                                          certificate: see pki_issue_export)
 *   DIR/index.txt                          every certificate issued: status,
 *                                          not-after, revocation, serial, file,
 *                                          CN (format in pki_index.c)
 *   DIR/crl.pem                            CRL signed by the CA (OpenSSL; why
 *                                          and its nextUpdate: pki_crl.c);
 *                                          written by init, revoke*, crl
 *   DIR/.lock                              serialises index updates
 *
 * Keys are PEM, mode 0600 (broker.key: 0640 group mosquitto when issued by
 * root, because mosquitto 2.0 reads it after dropping to that user). A key or
 * certificate that exists is never overwritten; renew-device moves the
 * current pair aside (hard links, then atomic renames) before the new one
 * takes its name. index.txt and crl.pem are replaced atomically. */
#ifndef SMP_PKI_H
#define SMP_PKI_H

#include <stdio.h>
#include <time.h>

/* Runs one pki subcommand. argv[0] is the subcommand (init, issue-broker,
 * issue-collector, issue-device <id>, issue-export, renew-device <id>,
 * revoke-device <id>, revoke, crl, status), followed by --dir DIR (required)
 * and its options (`smpctl pki SUB --help`). Borrows argv. Returns 0 on
 * success, 1 on an error (reported on stderr naming the file or setting and
 * what to do) — for status: 1 when something needs attention — and 2 on a
 * usage error. */
int pki_cmd(int argc, char **argv);

/* `pki issue-viewer <name>` (pki_viewer.c): argv[0] is "issue-viewer".
 * Same return values as pki_cmd. */
int pki_viewer_cmd(int argc, char **argv);
/* Its usage text, for `smpctl pki --help`. */
const char *pki_viewer_usage(void);

/* `pki status`: prints one line per certificate file of dir and one for the
 * CRL to out, as of now. A certificate in use (not revoked, not a kept old
 * pair) or the CRL expiring within warn_days (inclusive) is WARN; past its
 * notAfter, EXPIRED. Returns 0 when nothing is WARN or EXPIRED, 1 when
 * something is, -1 with err filled when dir cannot be read. */
int pki_status(const char *dir, long warn_days, time_t now, FILE *out, char *err, size_t errlen);

#endif
