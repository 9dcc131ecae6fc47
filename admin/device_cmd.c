#include "device_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certfile.h"
#include "clinics.h"
#include "cmdgroup.h"
#include "cmdopts.h"
#include "db.h"
#include "device_recover.h"
#include "ids.h"
#include "registry.h"

#define ERRLEN 512

static const char usage_add[] =
    "smpctl device add <id> --clinic C --db PATH|URI [--model M] [--serial S] [--cert FILE]\n";
static const char usage_list[] = "smpctl device list --db PATH|URI [--clinic C]\n";
static const char usage_retire[] = "smpctl device retire <id> --db PATH|URI\n";
static const char usage_replace[] =
    "smpctl device replace <id> --cert FILE --db PATH|URI\n"
    "    registers a new certificate for the device (CN must be <id>), e.g. after\n"
    "    'smpctl pki renew-device'; also gives one to a device added without --cert.\n"
    "    The previous certificate is kept in the registry's certificate history.\n"
    "    Checkpoints are verified against the registered certificate: install the\n"
    "    new pair on the machine and switch the registry close together, and expect\n"
    "    R9 'checkpoint' alerts for checkpoints the machine signed with its old key\n"
    "    that arrive after the switch (or new-key ones arriving before it)\n";
static const char usage_set_cert[] =
    "smpctl device set-cert <id> --cert FILE --db PATH|URI\n"
    "    the first certificate of a device added without --cert (refuses a device\n"
    "    that already has one: use replace)\n";

static const char usage_recover[] =
    "smpctl device recover-chain <id> --from-seq N --by NAME --reason TEXT --db PATH|URI\n"
    "    un-wedges a device whose ack is held by a stored record that does not link\n"
    "    (R9 chain-break) or that makes its genuine record a conflict (R9 conflict):\n"
    "    every stored record of <id> from seq N on moves to superseded_records (kept\n"
    "    as evidence, never deleted), the R9 chain-break/conflict alerts from N on\n"
    "    are cleared, and who, when and why are recorded (smpctl device history).\n"
    "    N must be above the device's ack (the agent deleted what was acked). The\n"
    "    agent's next resend, within its ack timeout (at most 10 min), stores its\n"
    "    own records from N on and the ack moves\n";
static const char usage_history[] =
    "smpctl device history <id> --db PATH|URI\n"
    "    the chain recoveries of the device (who, when, from which seq, why)\n";

static const char usage_db[] =
    "  --db PATH|URI  the fleet database: a SQLite file, or a postgresql:// URI for\n"
    "                 PostgreSQL\n";

static void usage(FILE *out)
{
    fprintf(out, "usage: %s       %s       %s       %s       %s       %s       %s%s", usage_add,
            usage_list, usage_retire, usage_replace, usage_set_cert, usage_recover, usage_history,
            usage_db);
}

/* `--help` anywhere after the subcommand prints its usage on stdout. */
static bool wants_help(int argc, char **argv, const char *text)
{
    if (!cmdopts_wants_help(argc - 1, argv + 1))
        return false;
    printf("usage: %s%s", text, usage_db);
    return true;
}


/* db_open creates nothing: a mistyped path or URI, or a database not yet
 * migrated, is refused naming the command that fixes it (and never
 * showing a password: db_open's message names the masked target). */
static int open_existing(const char *cmd, const char *target, sqldb **db)
{
    char err[ERRLEN];

    if (db_open(target, db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* Options are checked before the database is touched so that a mistake
 * costs nothing; messages name the option. */
static int check_add_args(const registry_new *dev)
{
    char why[ERRLEN];

    if (!ids_valid_device_id(dev->device_id, why, sizeof why)) {
        fprintf(stderr, "smpctl device add: device id '%s': %s\n", dev->device_id, why);
        return -1;
    }
    if (registry_check_text("--clinic", dev->clinic, why, sizeof why) != 0 ||
        (dev->model && registry_check_text("--model", dev->model, why, sizeof why) != 0) ||
        (dev->serial && registry_check_text("--serial", dev->serial, why, sizeof why) != 0)) {
        fprintf(stderr, "smpctl device add: %s\n", why);
        return -1;
    }
    return 0;
}

static int cmd_add(int argc, char **argv)
{
    const char *db_path = NULL, *cert_path = NULL;
    registry_new dev = {0};
    cmdopt opts[] = {{"--clinic", &dev.clinic, false}, {"--db", &db_path, false}, {"--model", &dev.model, false},
                       {"--serial", &dev.serial, false}, {"--cert", &cert_path, false}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    char *pem = NULL;
    sqldb *db = NULL;
    int rc = 1;

    if (wants_help(argc, argv, usage_add))
        return 0;
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl device add: missing <id>\n");
        usage(stderr);
        return 2;
    }
    dev.device_id = argv[1];
    if (cmdopts_parse("device add", argc - 2, argv + 2, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (dev.clinic == NULL || db_path == NULL) {
        fprintf(stderr, "smpctl device add: --clinic and --db are required\n");
        return 2;
    }
    if (check_add_args(&dev) != 0)
        return 1;
    if (cert_path) {
        if ((pem = certfile_read("device add", cert_path, dev.device_id)) == NULL)
            return 1;
        dev.cert_pem = pem;
    }
    if (db_open(db_path, &db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device add: %s\n", err);
        goto cleanup;
    }
    registry_now(now);
    if (registry_add(db, &dev, now, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device add: %s\n", err);
        goto cleanup;
    }
    printf("device %s added to clinic '%s'%s\n", dev.device_id, dev.clinic,
           pem ? " with its certificate" : "");
    rc = 0;
    /* The device works either way; its dates are UTC until the clinic is. */
    if (clinics_get(db, dev.clinic, &(clinics_row){0}, err, sizeof err) == 1)
        fprintf(stderr, "smpctl device add: %s\n", err);

cleanup:
    sqldb_close(db);
    free(pem);
    return rc;
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

static void status_of(const registry_device *d, char *buf, size_t cap)
{
    const char *logger = strcmp(d->kind, REGISTRY_KIND_STERILIZER) == 0 ? ", autoclave logger" : "";

    if (d->retired_at[0])
        snprintf(buf, cap, "retired %s%s", d->retired_at, logger);
    else
        snprintf(buf, cap, "active%s", logger);
}

static void print_table(FILE *out, const registry_device *devs, size_t n)
{
    int w[5] = {2, 6, 5, 6, 5}; /* widths of "id", "clinic", "model", "serial", "added" */
    char status[64];

    for (size_t i = 0; i < n; i++) {
        const char *cols[5] = {devs[i].device_id, devs[i].clinic, or_dash(devs[i].model),
                               or_dash(devs[i].serial), devs[i].added_at};
        for (int c = 0; c < 5; c++)
            if ((int)strlen(cols[c]) > w[c])
                w[c] = (int)strlen(cols[c]);
    }
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], "id", w[1], "clinic", w[2], "model",
            w[3], "serial", w[4], "added", "status");
    for (size_t i = 0; i < n; i++) {
        status_of(&devs[i], status, sizeof status);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], devs[i].device_id, w[1],
                devs[i].clinic, w[2], or_dash(devs[i].model), w[3], or_dash(devs[i].serial),
                w[4], devs[i].added_at, status);
    }
}

static int cmd_list(int argc, char **argv)
{
    const char *db_path = NULL, *clinic = NULL;
    cmdopt opts[] = {{"--db", &db_path, false}, {"--clinic", &clinic, false}};
    registry_device *devs = NULL;
    size_t n = 0;
    char err[ERRLEN];
    sqldb *db = NULL;
    int rc = 1;

    if (wants_help(argc, argv, usage_list))
        return 0;
    if (cmdopts_parse("device list", argc - 1, argv + 1, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (db_path == NULL) {
        fprintf(stderr, "smpctl device list: --db is required\n");
        return 2;
    }
    if (open_existing("device list", db_path, &db) != 0)
        goto cleanup;
    if (registry_list(db, clinic, &devs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device list: %s\n", err);
        goto cleanup;
    }
    print_table(stdout, devs, n);
    if (n == 0 && clinic)
        fprintf(stderr, "smpctl device list: no devices registered for clinic '%s'\n", clinic);
    rc = 0;

cleanup:
    free(devs);
    sqldb_close(db);
    return rc;
}

static int cmd_retire(int argc, char **argv)
{
    const char *db_path = NULL;
    cmdopt opts[] = {{"--db", &db_path, false}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    sqldb *db = NULL;
    int rc = 1;

    if (wants_help(argc, argv, usage_retire))
        return 0;
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl device retire: missing <id>\n");
        usage(stderr);
        return 2;
    }
    if (cmdopts_parse("device retire", argc - 2, argv + 2, opts, 1) != 0)
        return 2;
    if (db_path == NULL) {
        fprintf(stderr, "smpctl device retire: --db is required\n");
        return 2;
    }
    if (open_existing("device retire", db_path, &db) != 0)
        goto cleanup;
    registry_now(now);
    if (registry_retire(db, argv[1], now, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device retire: %s\n", err);
        goto cleanup;
    }
    printf("device %s retired at %s\n", argv[1], now);
    rc = 0;

cleanup:
    sqldb_close(db);
    return rc;
}

/* Which key verifies a checkpoint.
 *
 * The collector checks each checkpoint's signature against the certificate
 * registered for the device shortly after the checkpoint is stored (its
 * verifier thread, collector/verifier.c), and the audit export re-checks a period's last checkpoint
 * against the certificate registered when the export runs. A checkpoint is
 * signed once, on the machine, with whatever key the agent had then, and
 * may sit in its journal for days before it is delivered.
 *
 * Choice: the registry holds the device's *current* certificate, the one its
 * agent signs with from the switch on; `replace` (and `pki renew-device
 * --db`) make the new one current right away and keep every previous one in
 * device_cert_history with the time it stopped being current. Records are
 * never re-signed and their stored signatures never change. Consequences:
 *   - checkpoints already verified were verified with the key that signed
 *     them, and stay as they are;
 *   - checkpoints signed with the old key but delivered after the switch
 *     (an agent's backlog) still verify: the collector and the export also
 *     try a previous certificate replaced less than 7 days before the
 *     checkpoint's ts (docs/collector.md, "Certificate renewal and
 *     checkpoints");
 *   - new-key checkpoints delivered before the registry is switched raise
 *     R9 "checkpoint": switch the registry first (`pki renew-device --db`
 *     does), then install the new pair on the machine.
 * Keeping the old certificate (rather than overwriting it) is what makes
 * those records provable later; trusting the history blindly would not be
 * right either when a key was revoked for compromise, which is why it records
 * when each certificate stopped being current. */
static int cmd_set_cert(int argc, char **argv, bool only_if_none)
{
    const char *name = only_if_none ? "set-cert" : "replace";
    const char *db_path = NULL, *cert_path = NULL;
    cmdopt opts[] = {{"--cert", &cert_path, true}, {"--db", &db_path, true}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1], cmd[32], why[ERRLEN];
    registry_cert_change change;
    char *pem = NULL;
    sqldb *db = NULL;
    int rc = 1;

    if (wants_help(argc, argv, only_if_none ? usage_set_cert : usage_replace))
        return 0;
    snprintf(cmd, sizeof cmd, "device %s", name);
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl %s: missing <id>\nusage: %s", cmd,
                only_if_none ? usage_set_cert : usage_replace);
        return 2;
    }
    if (cmdopts_parse(cmd, argc - 2, argv + 2, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (!ids_valid_device_id(argv[1], why, sizeof why)) {
        fprintf(stderr, "smpctl %s: device id '%s': %s\n", cmd, argv[1], why);
        return 1;
    }
    /* The certificate is checked before the database is opened. */
    if ((pem = certfile_read(cmd, cert_path, argv[1])) == NULL)
        return 1;
    if (open_existing(cmd, db_path, &db) != 0)
        goto cleanup;
    registry_now(now);
    if (registry_set_cert(db, argv[1], pem, now, only_if_none, &change, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl %s: %s\n", cmd, err);
        goto cleanup;
    }
    switch (change) {
    case REGISTRY_CERT_FIRST:
        printf("device %s: certificate registered (it had none)\n", argv[1]);
        break;
    case REGISTRY_CERT_REPLACED:
        printf("device %s: certificate replaced; the previous one is kept in the certificate "
               "history\n", argv[1]);
        break;
    case REGISTRY_CERT_UNCHANGED:
        printf("device %s: %s is already its registered certificate; nothing changed\n",
               argv[1], cert_path);
        break;
    }
    rc = 0;

cleanup:
    sqldb_close(db);
    free(pem);
    return rc;
}

static int cmd_recover(int argc, char **argv)
{
    const char *db_path = NULL, *from = NULL, *by = NULL, *reason = NULL;
    cmdopt opts[] = {{"--from-seq", &from, true}, {"--by", &by, true}, {"--reason", &reason, true},
                     {"--db", &db_path, true}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1], *end = NULL;
    device_recovery rec;
    unsigned long long seq;
    sqldb *db = NULL;
    int rc = 1;

    if (wants_help(argc, argv, usage_recover))
        return 0;
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl device recover-chain: missing <id>\nusage: %s", usage_recover);
        return 2;
    }
    if (cmdopts_parse("device recover-chain", argc - 2, argv + 2, opts,
                      sizeof opts / sizeof opts[0]) != 0)
        return 2;
    errno = 0;
    seq = strtoull(from, &end, 10);
    if (errno != 0 || end == from || *end != '\0' || from[0] == '-' || seq == 0) {
        fprintf(stderr, "smpctl device recover-chain: --from-seq %s: not a seq; give the first "
                "seq to take out of the chain (the device's acked seq + 1, see the R9 alert)\n", from);
        return 2;
    }
    if (open_existing("device recover-chain", db_path, &db) != 0)
        goto cleanup;
    registry_now(now);
    if (device_recover_chain(db, argv[1], (uint64_t)seq, by, reason, now, &rec, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device recover-chain: %s\n", err);
        goto cleanup;
    }
    printf("device %s: chain recovered from seq %llu (recovery %lld by %s at %s): %lld stored "
           "records moved to superseded_records, %lld R9 alerts cleared; ack stays at %llu until "
           "the agent resends from seq %llu\n", argv[1], seq, (long long)rec.id, by, now,
           (long long)rec.records_moved, (long long)rec.alerts_cleared,
           (unsigned long long)rec.acked_seq, (unsigned long long)rec.acked_seq + 1);
    rc = 0;

cleanup:
    sqldb_close(db);
    return rc;
}

static void print_recovery(void *ctx, const device_recovery_row *row)
{
    int *n = ctx;
    if ((*n)++ == 0)
        printf("id  at  by  from_seq  acked_seq  moved  reason\n");
    printf("%lld  %s  %s  %llu  %llu  %lld  %s\n", (long long)row->id, row->at, row->by,
           (unsigned long long)row->from_seq, (unsigned long long)row->acked_seq,
           (long long)row->records_moved, row->reason);
}

static int cmd_history(int argc, char **argv)
{
    const char *db_path = NULL;
    cmdopt opts[] = {{"--db", &db_path, true}};
    char err[ERRLEN];
    sqldb *db = NULL;
    int rc = 1, n = 0;

    if (wants_help(argc, argv, usage_history))
        return 0;
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl device history: missing <id>\nusage: %s", usage_history);
        return 2;
    }
    if (cmdopts_parse("device history", argc - 2, argv + 2, opts, 1) != 0)
        return 2;
    if (open_existing("device history", db_path, &db) != 0)
        goto cleanup;
    if (device_recover_history(db, argv[1], print_recovery, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl device history: %s\n", err);
        goto cleanup;
    }
    if (n == 0)
        printf("device %s: no chain recoveries\n", argv[1]);
    rc = 0;

cleanup:
    sqldb_close(db);
    return rc;
}

static int cmd_replace(int argc, char **argv)
{
    return cmd_set_cert(argc, argv, false);
}

static int cmd_first_cert(int argc, char **argv)
{
    return cmd_set_cert(argc, argv, true);
}

int device_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"add", cmd_add, false},
        {"list", cmd_list, false},
        {"retire", cmd_retire, false},
        {"replace", cmd_replace, false},
        {"set-cert", cmd_first_cert, false},
        {"recover-chain", cmd_recover, false},
        {"history", cmd_history, false},
    };
    static const cmdgroup group = {"device", subs, sizeof subs / sizeof subs[0], usage, false};

    return cmdgroup_run(&group, argc, argv);
}
