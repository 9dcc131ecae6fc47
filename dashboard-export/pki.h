/* pki: the fleet's own certificate authority, behind `smpctl pki ...`.
 *
 * Issues EC P-256 keys and ECDSA-SHA256 X.509 certificates with mbedTLS into
 * one directory:
 *
 *   DIR/ca.crt, DIR/ca.key                 fleet CA (CN=smpfleet CA)
 *   DIR/broker.crt, DIR/broker.key         mosquitto server cert (SAN localhost, 127.0.0.1)
 *   DIR/collector.crt, DIR/collector.key   client cert, CN=smp-collector
 *   DIR/devices/<id>.crt, <id>.key         client cert, CN=<device id>
 *   DIR/export.key, DIR/export-pub.pem     audit export signing key pair (no
 *                                          certificate: see pki_issue_export)
 *
 * Keys are PEM, mode 0600 (broker.key: 0640 group mosquitto when issued by
 * root, because mosquitto 2.0 reads it after dropping to that user). Nothing
 * that already exists is ever overwritten. */
#ifndef SMP_PKI_H
#define SMP_PKI_H

/* Runs one pki subcommand. argv[0] is the subcommand (init, issue-broker,
 * issue-collector, issue-device <id>, issue-export), followed by --dir DIR
 * (required) and optionally --days N (ignored by issue-export). Borrows argv. Returns 0 on success, 1 on an error
 * (reported on stderr naming the file or setting and what to do), 2 on a
 * usage error. */
int pki_cmd(int argc, char **argv);

#endif
