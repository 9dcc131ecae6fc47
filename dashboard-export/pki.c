/* pki: `smpctl pki init|issue-broker|issue-collector|issue-device <id>|issue-export`.
 *
 * One small CA for one fleet. Every certificate is made the same way: a fresh
 * P-256 key, a random serial, a profile (CA, TLS server, TLS client) of
 * extensions, an ECDSA-SHA256 signature, a self-check against the CA, then
 * key and certificate written atomically without ever replacing a file. */
#include "pki.h"

#include "ids.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#define PKI_CA_SUBJECT "O=smpfleet,CN=smpfleet CA"
#define PKI_BROKER_SUBJECT "O=smpfleet,CN=smp-broker"
#define PKI_CA_DAYS 3650
#define PKI_LEAF_DAYS 825
#define PKI_MAX_DAYS 36500
/* Backdate notBefore so a peer whose clock runs a few minutes behind ours
 * does not reject a certificate issued just now. */
#define PKI_BACKDATE_S 600
#define PKI_SERIAL_LEN 16
#define PKI_PEM_MAX 4096
#define PKI_DIR_MODE 0755
#define PKI_CRT_MODE 0644
#define PKI_KEY_MODE 0600
/* Room for a message naming two full paths. */
#define PKI_ERR_MAX (3 * PATH_MAX)

enum pki_kind { PKI_CA, PKI_BROKER, PKI_COLLECTOR, PKI_DEVICE, PKI_EXPORT };

struct pki_req {
    enum pki_kind kind;
    const char *dir;
    const char *device_id; /* issue-device only */
    long days;
};

struct pki_files {
    char ca_crt[PATH_MAX];
    char ca_key[PATH_MAX];
    char out_dir[PATH_MAX]; /* where the new pair goes: DIR or DIR/devices */
    char crt[PATH_MAX];     /* issue-export: the public key PEM */
    char key[PATH_MAX];
};

/* Every mbedTLS context one issuance needs, initialised together and freed
 * together so that each error path is a plain `goto cleanup`. */
struct pki_crypto {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;      /* the new key pair */
    mbedtls_pk_context ca_key;   /* issuer key (leaves only) */
    mbedtls_x509_crt ca_crt;     /* issuer cert (leaves only) */
    mbedtls_x509_crt check;      /* the new cert parsed back for the self-check */
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl pki init --dir DIR [--days N]\n"
            "       smpctl pki issue-broker --dir DIR [--days N]\n"
            "       smpctl pki issue-collector --dir DIR [--days N]\n"
            "       smpctl pki issue-device <id> --dir DIR [--days N]\n"
            "       smpctl pki issue-export --dir DIR   (audit export signing key: export.key,\n"
            "                                           export-pub.pem; no certificate)\n"
            "  --days: validity, default %d for the CA and %d for the others\n",
            PKI_CA_DAYS, PKI_LEAF_DAYS);
}

static void crypto_init(struct pki_crypto *c)
{
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_pk_init(&c->key);
    mbedtls_pk_init(&c->ca_key);
    mbedtls_x509_crt_init(&c->ca_crt);
    mbedtls_x509_crt_init(&c->check);
    mbedtls_x509write_crt_init(&c->crt);
    mbedtls_mpi_init(&c->serial);
}

static void crypto_free(struct pki_crypto *c)
{
    mbedtls_mpi_free(&c->serial);
    mbedtls_x509write_crt_free(&c->crt);
    mbedtls_x509_crt_free(&c->check);
    mbedtls_x509_crt_free(&c->ca_crt);
    mbedtls_pk_free(&c->ca_key);
    mbedtls_pk_free(&c->key);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
}

/* Fills err with "<what>: <mbedTLS reason>" and returns -1. */
static int tls_fail(char *err, size_t errlen, const char *what, int ret)
{
    char reason[160];

    mbedtls_strerror(ret, reason, sizeof reason);
    snprintf(err, errlen, "%s: %s (mbedTLS -0x%04x)", what, reason, (unsigned)-ret);
    return -1;
}

/* ---- arguments ---------------------------------------------------------- */

static int parse_kind(const char *s, enum pki_kind *kind)
{
    static const struct { const char *name; enum pki_kind kind; } subs[] = {
        {"init", PKI_CA},
        {"issue-broker", PKI_BROKER},
        {"issue-collector", PKI_COLLECTOR},
        {"issue-device", PKI_DEVICE},
        {"issue-export", PKI_EXPORT},
    };

    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(s, subs[i].name) == 0) {
            *kind = subs[i].kind;
            return 0;
        }
    }
    return -1;
}

static int parse_days(const char *s, long *days)
{
    char *end = NULL;

    errno = 0;
    *days = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *days < 1 || *days > PKI_MAX_DAYS) {
        fprintf(stderr, "smpctl pki: --days must be a whole number of days 1..%d, got '%s'\n",
                PKI_MAX_DAYS, s);
        return -1;
    }
    return 0;
}

/* Returns 0 when req is complete, 2 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct pki_req *req)
{
    memset(req, 0, sizeof *req);
    if (argc < 1 || parse_kind(argv[0], &req->kind) != 0) {
        if (argc >= 1)
            fprintf(stderr, "smpctl pki: unknown subcommand '%s'\n", argv[0]);
        usage(stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--dir") == 0 || strcmp(a, "--days") == 0) && i + 1 >= argc) {
            fprintf(stderr, "smpctl pki: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--dir") == 0) {
            req->dir = argv[++i];
        } else if (strcmp(a, "--days") == 0) {
            if (parse_days(argv[++i], &req->days) != 0)
                return 2;
        } else if (req->kind == PKI_DEVICE && !req->device_id && a[0] != '-') {
            req->device_id = a;
        } else {
            fprintf(stderr, "smpctl pki: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!req->dir || req->dir[0] == '\0') {
        fprintf(stderr, "smpctl pki: --dir DIR is required\n");
        return 2;
    }
    if (req->kind == PKI_DEVICE && !req->device_id) {
        fprintf(stderr, "smpctl pki: issue-device needs a device id, e.g. issue-device clinic1-m01\n");
        return 2;
    }
    if (req->days == 0)
        req->days = req->kind == PKI_CA ? PKI_CA_DAYS : PKI_LEAF_DAYS;
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static int path_join(char *out, const char *dir, const char *name, const char *ext,
                     char *err, size_t errlen)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, ext);

    if (n < 0 || n >= PATH_MAX) {
        snprintf(err, errlen, "path %s/%s%s is too long; use a shorter --dir", dir, name, ext);
        return -1;
    }
    return 0;
}

/* Creates path (and missing parents) as 0755; an existing directory is left
 * as its owner set it. */
static int make_dir(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    struct stat st;

    if (strlen(path) >= sizeof tmp) {
        snprintf(err, errlen, "path %s is too long; use a shorter --dir", path);
        return -1;
    }
    strcpy(tmp, path);
    for (char *p = tmp + 1; ; p++) {
        char saved = *p;
        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(tmp, PKI_DIR_MODE) == 0) {
            /* mkdir honours the umask; certificates must be world-readable. */
            chmod(tmp, PKI_DIR_MODE);
        } else if (errno != EEXIST || stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot create directory %s: %s; check the --dir path",
                     tmp, errno == EEXIST ? "exists and is not a directory" : strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

static int refuse_existing(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        snprintf(err, errlen, "%s already exists; remove it or use another --dir "
                 "(smpctl pki never overwrites a key or certificate)", path);
        return -1;
    }
    return 0;
}

static int need_existing(const char *path, const char *dir, char *err, size_t errlen)
{
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "cannot read %s (%s); run smpctl pki init --dir %s first",
                 path, strerror(errno), dir);
        return -1;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    char *slash;
    int fd, rc;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes data to a new file at path, all or nothing: a temp file in the same
 * directory gets the data, mode and group, is fsynced, then hard-linked to
 * path. link() fails with EEXIST rather than replacing, so a file that
 * appeared meanwhile is never overwritten. gid (gid_t)-1 keeps our group. */
static int write_new_file(const char *path, const unsigned char *data, size_t len,
                          mode_t mode, gid_t gid, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    int fd, rc = -1;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path %s is too long; use a shorter --dir", path);
        return -1;
    }
    fd = mkstemp(tmp); /* created 0600, so a key is never briefly readable */
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s; check permissions of its directory",
                 tmp, strerror(errno));
        return -1;
    }
    if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) || fchmod(fd, mode) != 0 ||
        write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (link(tmp, path) != 0) {
        snprintf(err, errlen, "cannot create %s: %s; remove it or use another --dir",
                 path, strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    close(fd);
    unlink(tmp);
    if (rc == 0 && fsync_dir_of(path) != 0) {
        snprintf(err, errlen, "cannot fsync the directory of %s: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* Resolves every path of req, checks the CA is there (leaves) and that
 * nothing would be overwritten, and creates the output directory. */
static int prepare_files(const struct pki_req *req, struct pki_files *f, char *err, size_t errlen)
{
    static const char *const stem[] = {"ca", "broker", "collector", NULL, "export"};
    const char *name = req->kind == PKI_DEVICE ? req->device_id : stem[req->kind];
    bool export = req->kind == PKI_EXPORT;

    if (path_join(f->ca_crt, req->dir, "ca", ".crt", err, errlen) != 0 ||
        path_join(f->ca_key, req->dir, "ca", ".key", err, errlen) != 0)
        return -1;
    if (req->kind == PKI_DEVICE) {
        if (path_join(f->out_dir, req->dir, "devices", "", err, errlen) != 0)
            return -1;
    } else {
        snprintf(f->out_dir, sizeof f->out_dir, "%s", req->dir);
    }
    if (path_join(f->crt, f->out_dir, export ? "export-pub" : name, export ? ".pem" : ".crt",
                  err, errlen) != 0 ||
        path_join(f->key, f->out_dir, name, ".key", err, errlen) != 0)
        return -1;
    if (req->kind != PKI_CA && !export && (need_existing(f->ca_crt, req->dir, err, errlen) != 0 ||
                                need_existing(f->ca_key, req->dir, err, errlen) != 0))
        return -1;
    if (refuse_existing(f->key, err, errlen) != 0 || refuse_existing(f->crt, err, errlen) != 0)
        return -1;
    return make_dir(f->out_dir, err, errlen);
}

/* ---- keys and certificates ---------------------------------------------- */

static int seed_and_keygen(struct pki_crypto *c, char *err, size_t errlen)
{
    static const char pers[] = "smpctl-pki";
    int ret;

    ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                (const unsigned char *)pers, sizeof pers - 1);
    if (ret != 0)
        return tls_fail(err, errlen, "seeding the random generator", ret);
    ret = mbedtls_pk_setup(&c->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(c->key),
                                  mbedtls_ctr_drbg_random, &c->drbg);
    if (ret != 0)
        return tls_fail(err, errlen, "generating an EC P-256 key", ret);
    return 0;
}

static int load_ca(struct pki_crypto *c, const struct pki_files *f, char *err, size_t errlen)
{
    char what[PATH_MAX + 64];
    int ret;

    ret = mbedtls_x509_crt_parse_file(&c->ca_crt, f->ca_crt);
    if (ret != 0) {
        snprintf(what, sizeof what, "reading the CA certificate %s", f->ca_crt);
        return tls_fail(err, errlen, what, ret);
    }
    ret = mbedtls_pk_parse_keyfile(&c->ca_key, f->ca_key, NULL);
    if (ret != 0) {
        snprintf(what, sizeof what, "reading the CA key %s", f->ca_key);
        return tls_fail(err, errlen, what, ret);
    }
    if (mbedtls_pk_check_pair(&c->ca_crt.pk, &c->ca_key) != 0) {
        snprintf(err, errlen, "%s does not belong to %s; restore the pair made by "
                 "smpctl pki init", f->ca_key, f->ca_crt);
        return -1;
    }
    return 0;
}

static void format_x509_time(const mbedtls_x509_time *t, char out[16])
{
    snprintf(out, 16, "%04u%02u%02u%02u%02u%02u",
             (unsigned)t->year % 10000u, (unsigned)t->mon % 100u, (unsigned)t->day % 100u,
             (unsigned)t->hour % 100u, (unsigned)t->min % 100u, (unsigned)t->sec % 100u);
}

static int format_time(time_t t, char out[16])
{
    struct tm tm;

    return gmtime_r(&t, &tm) && strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

/* Validity is [now - backdate, now + days]; a leaf never outlives its CA
 * (a verifier would reject it after the CA expires anyway). */
static int set_validity(struct pki_crypto *c, const struct pki_req *req, char *err, size_t errlen)
{
    char from[16], to[16], ca_to[16];
    time_t now = time(NULL);
    int ret;

    if (format_time(now - PKI_BACKDATE_S, from) != 0 ||
        format_time(now + (time_t)req->days * 86400, to) != 0) {
        snprintf(err, errlen, "cannot format the validity dates; check --days and the clock");
        return -1;
    }
    if (req->kind != PKI_CA) {
        format_x509_time(&c->ca_crt.valid_to, ca_to);
        if (strcmp(to, ca_to) > 0) {
            fprintf(stderr, "smpctl pki: note: validity shortened to the CA's end (%s UTC)\n", ca_to);
            memcpy(to, ca_to, sizeof to);
        }
    }
    ret = mbedtls_x509write_crt_set_validity(&c->crt, from, to);
    return ret == 0 ? 0 : tls_fail(err, errlen, "setting the validity", ret);
}

/* A random positive 16-byte serial: top bit clear keeps it positive, the next
 * bit set keeps it exactly 16 octets long (and never zero). */
static int set_serial(struct pki_crypto *c, char *err, size_t errlen)
{
    unsigned char b[PKI_SERIAL_LEN];
    int ret;

    ret = mbedtls_ctr_drbg_random(&c->drbg, b, sizeof b);
    if (ret == 0) {
        b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
        ret = mbedtls_mpi_read_binary(&c->serial, b, sizeof b);
    }
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_serial(&c->crt, &c->serial);
    return ret == 0 ? 0 : tls_fail(err, errlen, "setting the serial number", ret);
}

/* extKeyUsage ::= SEQUENCE OF KeyPurposeId; mbedTLS 2.28 has no setter.
 * ASN.1 is written back to front, so the buffer fills from its end. */
static int set_ext_key_usage(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len)
{
    unsigned char buf[32];
    unsigned char *p = buf + sizeof buf;
    size_t len = 0;
    int ret; /* used by MBEDTLS_ASN1_CHK_ADD */

    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, oid, oid_len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
                                                     MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                               0, p, len);
}

/* subjectAltName ::= GeneralNames { dNSName [2] "localhost", iPAddress [7]
 * 127.0.0.1 }, so clients that check the host name accept the local broker
 * whether they dial "localhost" or the address. Written last entry first. */
static int set_broker_san(mbedtls_x509write_cert *crt)
{
    static const unsigned char ip[4] = {127, 0, 0, 1};
    static const char dns[] = "localhost";
    unsigned char buf[64];
    unsigned char *p = buf + sizeof buf;
    size_t len = 0, n = 0;
    int ret; /* used by MBEDTLS_ASN1_CHK_ADD */

    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(&p, buf, ip, sizeof ip));
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(&p, buf, n));
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
    len += n;
    n = 0;
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)dns,
                                                          sizeof dns - 1));
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(&p, buf, n));
    MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
    len += n;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
                                                     MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                               0, p, len);
}

/* The extensions that make a certificate a CA, a TLS server or a TLS client. */
static int set_profile(mbedtls_x509write_cert *crt, enum pki_kind kind)
{
    int ret;

    if (kind == PKI_CA) {
        /* pathlen 0: this CA signs leaves only, never another CA. */
        ret = mbedtls_x509write_crt_set_basic_constraints(crt, 1, 0);
        if (ret == 0)
            ret = mbedtls_x509write_crt_set_key_usage(crt, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                               MBEDTLS_X509_KU_CRL_SIGN);
        return ret;
    }
    ret = mbedtls_x509write_crt_set_basic_constraints(crt, 0, -1);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_key_usage(crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (ret == 0 && kind == PKI_BROKER)
        ret = set_ext_key_usage(crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    else if (ret == 0)
        ret = set_ext_key_usage(crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    if (ret == 0 && kind == PKI_BROKER)
        ret = set_broker_san(crt);
    return ret;
}

static void subject_of(const struct pki_req *req, char *out, size_t outlen)
{
    switch (req->kind) {
    case PKI_CA: snprintf(out, outlen, "%s", PKI_CA_SUBJECT); break;
    case PKI_BROKER: snprintf(out, outlen, "%s", PKI_BROKER_SUBJECT); break;
    case PKI_COLLECTOR: snprintf(out, outlen, "O=smpfleet,CN=%s", IDS_COLLECTOR_CN); break;
    case PKI_DEVICE: snprintf(out, outlen, "O=smpfleet,CN=%s", req->device_id); break;
    case PKI_EXPORT: snprintf(out, outlen, "O=smpfleet,CN=smp-export"); break;
    }
}

static int build_cert(struct pki_crypto *c, const struct pki_req *req, char *err, size_t errlen)
{
    mbedtls_pk_context *issuer = req->kind == PKI_CA ? &c->key : &c->ca_key;
    char subject[128];
    int ret;

    subject_of(req, subject, sizeof subject);
    mbedtls_x509write_crt_set_version(&c->crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&c->crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&c->crt, &c->key);
    mbedtls_x509write_crt_set_issuer_key(&c->crt, issuer);
    if (set_serial(c, err, errlen) != 0 || set_validity(c, req, err, errlen) != 0)
        return -1;
    /* Leaves name the issuer by the CA's own subject string; the self-check
     * in sign_and_check catches a ca.crt with any other subject. */
    ret = mbedtls_x509write_crt_set_subject_name(&c->crt, subject);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_issuer_name(&c->crt, PKI_CA_SUBJECT);
    if (ret != 0)
        return tls_fail(err, errlen, "setting the subject/issuer name", ret);
    ret = set_profile(&c->crt, req->kind);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_subject_key_identifier(&c->crt);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_authority_key_identifier(&c->crt);
    return ret == 0 ? 0 : tls_fail(err, errlen, "adding certificate extensions", ret);
}

/* Signs into pem, then parses it back and verifies it against the CA so a
 * certificate that would not verify is never written. */
static int sign_and_check(struct pki_crypto *c, const struct pki_req *req,
                          unsigned char *pem, size_t pemlen, char *err, size_t errlen)
{
    mbedtls_x509_crt *trust = req->kind == PKI_CA ? &c->check : &c->ca_crt;
    uint32_t flags = 0;
    char why[256];
    int ret;

    ret = mbedtls_x509write_crt_pem(&c->crt, pem, pemlen, mbedtls_ctr_drbg_random, &c->drbg);
    if (ret != 0)
        return tls_fail(err, errlen, "signing the certificate", ret);
    ret = mbedtls_x509_crt_parse(&c->check, pem, strlen((char *)pem) + 1);
    if (ret != 0)
        return tls_fail(err, errlen, "parsing the new certificate back", ret);
    ret = mbedtls_x509_crt_verify(&c->check, trust, NULL, NULL, &flags, NULL, NULL);
    if (ret != 0) {
        mbedtls_x509_crt_verify_info(why, sizeof why, "", flags);
        why[strcspn(why, "\n")] = '\0';
        snprintf(err, errlen, "the new certificate does not verify against %s: %s; "
                 "is ca.crt the one smpctl pki init made?",
                 req->kind == PKI_CA ? "itself" : "ca.crt", why);
        return -1;
    }
    return 0;
}

/* mosquitto 2.0 started as root switches to user mosquitto *before* it loads
 * certfile/keyfile (seen with 2.0.11: a 0600 root key fails with "Unable to
 * load server key file ... Permission denied"). So when root issues the
 * broker key, the mosquitto group may read it; otherwise only its owner. */
static void key_access(enum pki_kind kind, mode_t *mode, gid_t *gid)
{
    struct group *g;

    *mode = PKI_KEY_MODE;
    *gid = (gid_t)-1;
    if (kind != PKI_BROKER || geteuid() != 0)
        return;
    g = getgrnam("mosquitto");
    if (g) {
        *mode = 0640;
        *gid = g->gr_gid;
    }
}

static int write_pair(struct pki_crypto *c, const struct pki_req *req, const struct pki_files *f,
                      const unsigned char *crt_pem, char *err, size_t errlen)
{
    unsigned char key_pem[PKI_PEM_MAX];
    mode_t mode;
    gid_t gid;
    int ret;

    ret = mbedtls_pk_write_key_pem(&c->key, key_pem, sizeof key_pem);
    if (ret != 0)
        return tls_fail(err, errlen, "encoding the private key", ret);
    key_access(req->kind, &mode, &gid);
    ret = write_new_file(f->key, key_pem, strlen((char *)key_pem), mode, gid, err, errlen);
    mbedtls_platform_zeroize(key_pem, sizeof key_pem);
    if (ret != 0)
        return -1;
    if (write_new_file(f->crt, crt_pem, strlen((const char *)crt_pem), PKI_CRT_MODE,
                       (gid_t)-1, err, errlen) != 0) {
        /* A key without its certificate would block the retry; remove it. */
        unlink(f->key);
        return -1;
    }
    return 0;
}

/* The audit export key is a bare key pair, not a certificate: an inspector
 * checks a bundle with `openssl dgst -verify export-pub.pem`, which takes
 * a public key, and trusts it by the fingerprint the clinic registered with
 * them. A certificate from the fleet CA would add no trust an inspector
 * has (the fleet CA is the operator's own), only a step to extract the
 * key. */
static int pki_issue_export(const struct pki_req *req, char *err, size_t errlen)
{
    struct pki_crypto c;
    struct pki_files f;
    unsigned char key_pem[PKI_PEM_MAX], pub_pem[PKI_PEM_MAX];
    int ret, rc = -1;

    crypto_init(&c);
    if (prepare_files(req, &f, err, errlen) != 0 || seed_and_keygen(&c, err, errlen) != 0)
        goto cleanup;
    if ((ret = mbedtls_pk_write_key_pem(&c.key, key_pem, sizeof key_pem)) != 0 ||
        (ret = mbedtls_pk_write_pubkey_pem(&c.key, pub_pem, sizeof pub_pem)) != 0) {
        tls_fail(err, errlen, "encoding the export key", ret);
        goto cleanup;
    }
    if (write_new_file(f.key, key_pem, strlen((char *)key_pem), PKI_KEY_MODE, (gid_t)-1, err,
                       errlen) != 0)
        goto cleanup;
    if (write_new_file(f.crt, pub_pem, strlen((char *)pub_pem), PKI_CRT_MODE, (gid_t)-1, err,
                       errlen) != 0) {
        unlink(f.key);   /* a key without its public half would block the retry */
        goto cleanup;
    }
    printf("smpctl pki: wrote %s and %s\n", f.key, f.crt);
    rc = 0;
cleanup:
    mbedtls_platform_zeroize(key_pem, sizeof key_pem);
    crypto_free(&c);
    return rc;
}

static int pki_issue(const struct pki_req *req, char *err, size_t errlen)
{
    struct pki_crypto c;
    struct pki_files f;
    unsigned char crt_pem[PKI_PEM_MAX];
    int rc = -1;

    crypto_init(&c);
    if (prepare_files(req, &f, err, errlen) != 0)
        goto cleanup;
    if (req->kind != PKI_CA && load_ca(&c, &f, err, errlen) != 0)
        goto cleanup;
    if (seed_and_keygen(&c, err, errlen) != 0 || build_cert(&c, req, err, errlen) != 0)
        goto cleanup;
    if (sign_and_check(&c, req, crt_pem, sizeof crt_pem, err, errlen) != 0)
        goto cleanup;
    if (write_pair(&c, req, &f, crt_pem, err, errlen) != 0)
        goto cleanup;
    printf("smpctl pki: wrote %s and %s\n", f.crt, f.key);
    rc = 0;
cleanup:
    crypto_free(&c);
    return rc;
}

int pki_cmd(int argc, char **argv)
{
    struct pki_req req;
    char why[160];
    char err[PKI_ERR_MAX];
    int rc;

    if (argc >= 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    rc = parse_args(argc, argv, &req);
    if (rc != 0)
        return rc;
    if (req.kind == PKI_DEVICE && !ids_valid_device_id(req.device_id, why, sizeof why)) {
        fprintf(stderr, "smpctl pki: bad device id '%s': %s\n", req.device_id, why);
        return 2;
    }
    if ((req.kind == PKI_EXPORT ? pki_issue_export(&req, err, sizeof err)
                                : pki_issue(&req, err, sizeof err)) != 0) {
        fprintf(stderr, "smpctl pki: %s\n", err);
        return 1;
    }
    return 0;
}
