/* smpctl: fleet administration — PKI, device registry, compliance reports,
 * alerts. */
#include <stdio.h>
#include <string.h>

#include "alerts_cmd.h"
#include "broker_cmd.h"
#include "clinic_cmd.h"
#include "db_cmd.h"
#include "device_cmd.h"
#include "export.h"
#include "fleet_cmd.h"
#include "pki.h"
#include "quarantine_cmd.h"
#include "report.h"
#include "sterilizer_cmd.h"
#include "verify.h"
#include "version.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl <command> [options]     (smpctl <command> --help: its usage)\n"
            "       smpctl --version | --help\n"
            "  DB is a SQLite file path or a postgresql:// URI (libpq; keep its password in\n"
            "  a password file, PGPASSFILE: a password in the URI is shown only as ***)\n"
            "  db migrate --db DB\n"
            "  db copy --from DB --to DB\n"
            "  pki init|issue-broker|issue-collector|issue-device <id>|issue-export --dir DIR\n"
            "  pki renew-device <id>|revoke-device <id>|revoke|crl|status --dir DIR\n"
            "  pki issue-viewer <name> --dir DIR (--clinic C | --all) --db DB\n"
            "  broker acl --pki DIR --out FILE [--db DB] [--base FILE]\n"
            "  fleet status --db DB [--clinic C]\n"
            "  clinic add <id> --name N --timezone TZ [--address A] [--licence L] --db DB\n"
            "  clinic set <id> [--name N] [--timezone TZ] [--address A] [--licence L] --db DB\n"
            "  clinic list --db DB\n"
            "  sterilizer add <id> --clinic C [--model M] [--serial S] [--cert FILE] --db DB\n"
            "  sterilizer list --db DB [--clinic C]\n"
            "  device add <id> --clinic C --db DB [--model M] [--serial S] [--cert FILE]\n"
            "  device list --db DB [--clinic C]\n"
            "  device retire <id> --db DB\n"
            "  device replace|set-cert <id> --cert FILE --db DB\n"
            "  device recover-chain <id> --from-seq N --by NAME --reason TEXT --db DB\n"
            "  device history <id> --db DB\n"
            "  alerts list --db DB [--clinic C] [--open] [--since DATE]\n"
            "  alerts ack ID --by NAME --db DB\n"
            "  alerts notify-test --sink webhook|smtp|command -c COLLECTOR_CONF\n"
            "  quarantine list --db DB [--device ID] [--since DATE] [--limit N]\n"
            "  quarantine show ID --db DB\n"
            "  report --db DB --clinic C --from YYYY-MM-DD --to YYYY-MM-DD --format csv|html|json|pdf [--out FILE]\n"
            "  export --db DB --clinic C --from YYYY-MM-DD --to YYYY-MM-DD --out DIR --key EXPORT_KEY\n"
            "  verify DIR\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("smpctl %s\n", SMP_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "db") == 0)
        return db_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "pki") == 0)
        return pki_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "broker") == 0)
        return broker_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "fleet") == 0)
        return fleet_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "clinic") == 0)
        return clinic_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "sterilizer") == 0)
        return sterilizer_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "device") == 0)
        return device_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "alerts") == 0)
        return alerts_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "quarantine") == 0)
        return quarantine_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "report") == 0)
        return report_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "export") == 0)
        return export_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0)
        return verify_cmd(argc - 2, argv + 2);
    fprintf(stderr, "smpctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
