/* export: `smpctl export`, the inspector's audit bundle (docs/reports.md).
 *
 *   smpctl export --db PATH|URI --clinic C --from YYYY-MM-DD --to YYYY-MM-DD
 *                 --out DIR --key EXPORT_KEY.pem [--signatory "Name, Role"]
 *
 * DIR gets, all from one database snapshot:
 *   README.txt           what the files are and how to check them
 *   report.pdf           the compliance report, printable (report_pdf)
 *   report.csv           per-device usage (report_csv)
 *   sterilizer_log.csv   tests.csv  procedure_log.csv  cartridge_log.csv
 *   violations.csv       (export_logs)
 *   SHA256SUMS           `sha256sum -c SHA256SUMS` checks the files above
 *   manifest.json        size and SHA-256 of every file (SHA256SUMS too), the
 *                        period, and each device's chain status (export_chain)
 *   manifest.sig         ECDSA P-256 / SHA-256 DER signature of manifest.json
 *   export-pub.pem       the public key of --key (bundle.h)
 *
 * The bundle is written into a temporary directory beside DIR and renamed
 * to DIR at the end, so DIR never holds half a bundle; an existing DIR
 * must be empty (nothing is ever overwritten). smpctl verify checks it. */
#ifndef SMP_EXPORT_H
#define SMP_EXPORT_H

/* argv holds the options after "export". Borrows argv. Returns 0 on
 * success, 1 on an error (reported on stderr naming the option, file or
 * database), 2 on a usage error. */
int export_cmd(int argc, char **argv);

/* The names export writes, manifest.json, manifest.sig and
 * export-pub.pem included: NULL-terminated, sorted. */
extern const char *const export_files[];

#endif
