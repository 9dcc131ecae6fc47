/* pki_cli: `smpctl pki` — the subcommands, their usage and options, and
 * dispatch to the pki_*.c file that does each. */
#include "pki.h"
#include "pki_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdopts.h"

#define PKI_WARN_DAYS 30
#define PKI_COLLECTOR_SUFFIX_MAX 40

/* ---- usage -------------------------------------------------------------- */

struct pki_sub {
    const char *name;
    enum pki_kind kind;
    const char *usage;
};

static const struct pki_sub subs[] = {
    {"init", PKI_CA,
     "smpctl pki init --dir DIR [--days N]\n"
     "    the fleet CA: ca.crt, ca.key (default 3650 days), an empty crl.pem signed by\n"
     "    it (so the broker can always load crlfile) and index.txt\n"},
    {"issue-broker", PKI_BROKER,
     "smpctl pki issue-broker --dir DIR [--host NAME]... [--ip ADDR]... [--days N]\n"
     "    broker.crt, broker.key (CN smp-broker). subjectAltName holds every --host\n"
     "    (DNS name) and --ip (IPv4 or IPv6 address) given, each option repeatable\n"
     "    up to 16 times; with neither: localhost and 127.0.0.1\n"},
    {"issue-collector", PKI_COLLECTOR,
     "smpctl pki issue-collector --dir DIR [--name NAME] [--days N]\n"
     "    a collector's client certificate. Default NAME smp-collector: collector.crt,\n"
     "    collector.key. NAME smp-collector-SUFFIX (SUFFIX: a-z, 0-9, '-'), e.g.\n"
     "    smp-collector-2: collector-2.crt, collector-2.key, CN smp-collector-2\n"},
    {"issue-device", PKI_DEVICE,
     "smpctl pki issue-device <id> --dir DIR [--days N]\n"
     "    devices/<id>.crt, devices/<id>.key (CN <id>)\n"},
    {"issue-export", PKI_EXPORT,
     "smpctl pki issue-export --dir DIR\n"
     "    audit export signing key: export.key, export-pub.pem (no certificate)\n"},
    {"renew-device", PKI_RENEW_DEVICE,
     "smpctl pki renew-device <id> --dir DIR [--db PATH|URI] [--days N]\n"
     "    a new key and certificate for a device. The current pair is kept as\n"
     "    devices/<id>.<SERIAL>.crt/.key (still valid until it expires or is revoked,\n"
     "    so the machine keeps working until its new pair is installed); the new\n"
     "    pair takes devices/<id>.crt/.key. --db: also register the new certificate\n"
     "    in that registry, a SQLite file or a postgresql:// URI for PostgreSQL (the\n"
     "    old one goes to the registry's certificate history; see 'smpctl device\n"
     "    replace --help' for what that means for checkpoints)\n"},
    {"revoke-device", PKI_REVOKE_DEVICE,
     "smpctl pki revoke-device <id> --dir DIR [--reason R]\n"
     "    revokes every certificate of the device (current and kept ones), records\n"
     "    it in index.txt and rewrites crl.pem. The broker refuses it once it has\n"
     "    reloaded crl.pem (restart it, or SIGHUP: run-broker.sh reload)\n"},
    {"revoke", PKI_REVOKE,
     "smpctl pki revoke --dir DIR (--serial HEX | --cert FILE) [--reason R]\n"
     "    revokes one certificate (a device's old pair, a collector, the broker)\n"
     "    and rewrites crl.pem. R: unspecified (default), keyCompromise,\n"
     "    affiliationChanged, superseded, cessationOfOperation\n"},
    {"crl", PKI_CRL,
     "smpctl pki crl --dir DIR\n"
     "    rewrites crl.pem from index.txt (e.g. for a PKI made before revocation\n"
     "    existed). Its nextUpdate is the CA's notAfter: see 'pki status'\n"},
    {"status", PKI_STATUS,
     "smpctl pki status --dir DIR [--warn-days N]\n"
     "    lists every certificate of DIR (CA, broker, collectors, devices, kept\n"
     "    old pairs) with CN, serial, not-after, days left and revocation, and the\n"
     "    CRL's nextUpdate. WARN: expires within N days (default 30); EXPIRED.\n"
     "    Exit 0 when all is fine, 1 when a certificate in use (not revoked, not\n"
     "    a kept old pair) or the CRL expires within N days or has expired,\n"
     "    2 on a usage error\n"},
};

#define NSUBS (sizeof subs / sizeof subs[0])

static void usage(FILE *out)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < NSUBS; i++)
        fprintf(out, "  %s", subs[i].usage);
    fprintf(out, "  %s", pki_viewer_usage());
    fprintf(out, "  --days: validity, default %d for the CA and %d for the others (a\n"
                 "  certificate never outlives the CA)\n", PKI_CA_DAYS, PKI_LEAF_DAYS);
}

static const struct pki_sub *find_sub(const char *name)
{
    for (size_t i = 0; i < NSUBS; i++)
        if (strcmp(subs[i].name, name) == 0)
            return &subs[i];
    return NULL;
}

/* ---- arguments ---------------------------------------------------------- */

#define K(kind) (1u << (kind))
#define ISSUE_KINDS (K(PKI_CA) | K(PKI_BROKER) | K(PKI_COLLECTOR) | K(PKI_DEVICE) | K(PKI_EXPORT))

/* Which subcommands take which option. */
static const struct {
    const char *name;
    unsigned kinds;
} options[] = {
    {"--dir", ~0u},
    {"--days", ISSUE_KINDS | K(PKI_RENEW_DEVICE)},
    {"--host", K(PKI_BROKER)},
    {"--ip", K(PKI_BROKER)},
    {"--name", K(PKI_COLLECTOR)},
    {"--db", K(PKI_RENEW_DEVICE)},
    {"--serial", K(PKI_REVOKE)},
    {"--cert", K(PKI_REVOKE)},
    {"--reason", K(PKI_REVOKE) | K(PKI_REVOKE_DEVICE)},
    {"--warn-days", K(PKI_STATUS)},
};

static bool takes_id(enum pki_kind k)
{
    return k == PKI_DEVICE || k == PKI_RENEW_DEVICE || k == PKI_REVOKE_DEVICE;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;

    errno = 0;
    *out = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *out < lo || *out > hi) {
        fprintf(stderr, "smpctl pki: %s must be a whole number of days %ld..%ld, got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    return 0;
}

/* --name is smp-collector or smp-collector-SUFFIX: the broker ACL and the
 * collector's own checks know collectors by that prefix, and ids.h keeps
 * "smp-" away from device ids, so no device can ever be named like one. */
static int check_collector_name(const char *name)
{
    size_t plen = strlen(IDS_COLLECTOR_CN);
    const char *suffix = name + plen + 1;
    size_t slen;

    if (strcmp(name, IDS_COLLECTOR_CN) == 0)
        return 0;
    if (strncmp(name, IDS_COLLECTOR_CN "-", plen + 1) != 0) {
        fprintf(stderr, "smpctl pki: --name '%.80s' must be %s or start with %s- "
                "(e.g. %s-2)\n", name, IDS_COLLECTOR_CN, IDS_COLLECTOR_CN, IDS_COLLECTOR_CN);
        return -1;
    }
    slen = strlen(suffix);
    if (slen == 0 || slen > PKI_COLLECTOR_SUFFIX_MAX ||
        strspn(suffix, "abcdefghijklmnopqrstuvwxyz0123456789-") != slen ||
        suffix[0] == '-' || suffix[slen - 1] == '-') {
        fprintf(stderr, "smpctl pki: --name '%.80s': the part after %s- must be 1..%d of a-z, "
                "0-9 and '-' (not at its ends), e.g. %s-2\n", name, IDS_COLLECTOR_CN,
                PKI_COLLECTOR_SUFFIX_MAX, IDS_COLLECTOR_CN);
        return -1;
    }
    return 0;
}

static int set_option(struct pki_req *req, const char *opt, const char *val)
{
    char why[256];

    if (strcmp(opt, "--dir") == 0) {
        req->dir = val;
    } else if (strcmp(opt, "--days") == 0) {
        return parse_long(opt, val, 1, PKI_MAX_DAYS, &req->days);
    } else if (strcmp(opt, "--warn-days") == 0) {
        return parse_long(opt, val, 0, PKI_MAX_DAYS, &req->warn_days);
    } else if (strcmp(opt, "--host") == 0 || strcmp(opt, "--ip") == 0) {
        bool host = opt[2] == 'h';
        size_t *n = host ? &req->nhosts : &req->nips;
        unsigned char ip[16];
        size_t iplen;
        if ((host ? pki_check_host(val, why, sizeof why)
                  : pki_parse_ip(val, ip, &iplen, why, sizeof why)) != 0) {
            fprintf(stderr, "smpctl pki: %s\n", why);
            return -1;
        }
        if (*n >= PKI_SAN_MAX) {
            fprintf(stderr, "smpctl pki: at most %d %s options\n", PKI_SAN_MAX, opt);
            return -1;
        }
        (host ? req->hosts : req->ips)[(*n)++] = val;
        return 0;
    } else if (strcmp(opt, "--name") == 0) {
        req->name = val;
        return check_collector_name(val);
    } else if (strcmp(opt, "--db") == 0) {
        req->db = val;
    } else if (strcmp(opt, "--serial") == 0) {
        req->serial = val;
    } else if (strcmp(opt, "--cert") == 0) {
        req->cert = val;
    } else if (strcmp(opt, "--reason") == 0) {
        req->reason = val;
    }
    return 0;
}

static int find_option(const char *a, enum pki_kind kind)
{
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
        if (strcmp(a, options[k].name) == 0)
            return (options[k].kinds & K(kind)) ? (int)k : -2;
    return -1;
}

/* Returns 0 when req is complete, 2 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct pki_req *req, const struct pki_sub *sub)
{
    memset(req, 0, sizeof *req);
    req->kind = sub->kind;
    req->warn_days = PKI_WARN_DAYS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = find_option(a, req->kind);
        if (k >= 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "smpctl pki: %s needs a value\n", a);
                return 2;
            }
            if (set_option(req, a, argv[++i]) != 0)
                return 2;
        } else if (k == -1 && takes_id(req->kind) && !req->device_id && a[0] != '-') {
            req->device_id = a;
        } else {
            fprintf(stderr, "smpctl pki %s: unexpected argument '%s'\nusage: %s", sub->name, a,
                    sub->usage);
            return 2;
        }
    }
    if (!req->dir || req->dir[0] == '\0') {
        fprintf(stderr, "smpctl pki %s: --dir DIR is required\n", sub->name);
        return 2;
    }
    if (takes_id(req->kind) && !req->device_id) {
        fprintf(stderr, "smpctl pki: %s needs a device id, e.g. %s clinic1-m01\n", sub->name,
                sub->name);
        return 2;
    }
    if (req->kind == PKI_REVOKE && (!req->serial) == (!req->cert)) {
        fprintf(stderr, "smpctl pki revoke: give exactly one of --serial HEX or --cert FILE\n");
        return 2;
    }
    if (req->days == 0)
        req->days = req->kind == PKI_CA ? PKI_CA_DAYS : PKI_LEAF_DAYS;
    return 0;
}

int pki_cmd(int argc, char **argv)
{
    const struct pki_sub *sub;
    struct pki_req req;
    char why[160];
    char err[PKI_ERR_MAX];
    int rc;

    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    /* Its own arguments and a registry: not a struct pki_req kind. */
    if (strcmp(argv[0], "issue-viewer") == 0)
        return pki_viewer_cmd(argc, argv);
    sub = find_sub(argv[0]);
    if (!sub) {
        fprintf(stderr, "smpctl pki: unknown subcommand '%s'\n", argv[0]);
        usage(stderr);
        return 2;
    }
    if (cmdopts_wants_help(argc - 1, argv + 1)) {
        printf("usage: %s", sub->usage);
        return 0;
    }
    rc = parse_args(argc, argv, &req, sub);
    if (rc != 0)
        return rc;
    if (req.device_id && !ids_valid_device_id(req.device_id, why, sizeof why)) {
        fprintf(stderr, "smpctl pki: bad device id '%s': %s\n", req.device_id, why);
        return 2;
    }
    switch (req.kind) {
    case PKI_EXPORT: rc = pki_issue_export(&req, err, sizeof err); break;
    case PKI_RENEW_DEVICE: rc = pki_renew_device(&req, err, sizeof err); break;
    case PKI_REVOKE_DEVICE:
    case PKI_REVOKE: rc = pki_revoke_cmd(&req, err, sizeof err); break;
    case PKI_CRL: rc = pki_crl_cmd(&req, err, sizeof err); break;
    case PKI_STATUS:
        rc = pki_status(req.dir, req.warn_days, time(NULL), stdout, err, sizeof err);
        if (rc >= 0)
            return rc;
        break;
    default: rc = pki_issue(&req, err, sizeof err); break;
    }
    if (rc != 0) {
        fprintf(stderr, "smpctl pki %s: %s\n", sub->name, err);
        return 1;
    }
    return 0;
}
