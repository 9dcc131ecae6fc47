/* pki: issuing for `smpctl pki` (init, issue-broker, issue-collector,
 * issue-device, issue-export, and the new pair of renew-device). Arguments
 * and dispatch are in pki_cli.c; renewal, revocation, the CRL, the index
 * and status in the other pki_*.c files (pki_int.h).
 *
 * One small CA for one fleet. Every certificate is made the same way: a fresh
 * P-256 key, a random serial, a profile (CA, TLS server, TLS client) of
 * extensions, an ECDSA-SHA256 signature, a self-check against the CA, then
 * key and certificate written atomically without ever replacing a file, and
 * the certificate recorded in DIR/index.txt. */
#include "pki_int.h"

#include <grp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#define PKI_CA_SUBJECT "O=smpfleet,CN=smpfleet CA"
#define PKI_BROKER_SUBJECT "O=smpfleet,CN=smp-broker"
/* Backdate notBefore so a peer whose clock runs a few minutes behind ours
 * does not reject a certificate issued just now. */
#define PKI_BACKDATE_S 600
#define PKI_SERIAL_LEN 16
/* The SAN of 16 + 16 names of at most 253 octets fits easily. */
#define PKI_SAN_DER_MAX (2 * PKI_SAN_MAX * (PKI_HOST_MAX + 4) + 16)

struct pki_files {
    char ca_crt[PATH_MAX];
    char ca_key[PATH_MAX];
    char out_dir[PATH_MAX]; /* where the new pair goes: DIR or DIR/devices */
    char crt[PATH_MAX];     /* issue-export: the public key PEM */
    char key[PATH_MAX];
    char rel[PKI_REL_MAX];  /* crt relative to DIR, for the index */
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

/* ---- files -------------------------------------------------------------- */

/* The file stem of what req issues: ca, broker, collector[-SUFFIX], <id>. */
static const char *stem_of(const struct pki_req *req, char *buf, size_t cap)
{
    switch (req->kind) {
    case PKI_CA: return "ca";
    case PKI_BROKER: return "broker";
    case PKI_EXPORT: return "export";
    case PKI_COLLECTOR:
        if (!req->name || strcmp(req->name, IDS_COLLECTOR_CN) == 0)
            return "collector";
        /* smp-collector-2 -> collector-2 */
        snprintf(buf, cap, "collector%s", req->name + strlen(IDS_COLLECTOR_CN));
        return buf;
    default: return req->device_id;
    }
}

/* Resolves every path of req, checks the CA is there (leaves) and that
 * nothing would be overwritten, and creates the output directory. */
static int prepare_files(const struct pki_req *req, struct pki_files *f, char *err, size_t errlen)
{
    char buf[64];
    const char *name = stem_of(req, buf, sizeof buf);
    bool export = req->kind == PKI_EXPORT, device = req->kind == PKI_DEVICE;

    if (pki_path(f->ca_crt, req->dir, "ca", ".crt", err, errlen) != 0 ||
        pki_path(f->ca_key, req->dir, "ca", ".key", err, errlen) != 0)
        return -1;
    if (device) {
        if (pki_path(f->out_dir, req->dir, "devices", "", err, errlen) != 0)
            return -1;
    } else {
        snprintf(f->out_dir, sizeof f->out_dir, "%s", req->dir);
    }
    if (pki_path(f->crt, f->out_dir, export ? "export-pub" : name, export ? ".pem" : ".crt",
                 err, errlen) != 0 ||
        pki_path(f->key, f->out_dir, name, ".key", err, errlen) != 0)
        return -1;
    snprintf(f->rel, sizeof f->rel, "%s%s.crt", device ? "devices/" : "", name);
    if (req->kind != PKI_CA && !export && (pki_need_existing(f->ca_crt, req->dir, err, errlen) != 0 ||
                                pki_need_existing(f->ca_key, req->dir, err, errlen) != 0))
        return -1;
    if (pki_refuse_existing(f->key, err, errlen) != 0 || pki_refuse_existing(f->crt, err, errlen) != 0)
        return -1;
    return pki_make_dir(f->out_dir, err, errlen);
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

/* ---- keys and certificates ---------------------------------------------- */

static int seed_and_keygen(struct pki_crypto *c, char *err, size_t errlen)
{
    static const char pers[] = "smpctl-pki";
    int ret;

    ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                (const unsigned char *)pers, sizeof pers - 1);
    if (ret != 0)
        return pki_tls_fail(err, errlen, "seeding the random generator", ret);
    ret = mbedtls_pk_setup(&c->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(c->key),
                                  mbedtls_ctr_drbg_random, &c->drbg);
    if (ret != 0)
        return pki_tls_fail(err, errlen, "generating an EC P-256 key", ret);
    return 0;
}

static int load_ca(struct pki_crypto *c, const char *dir, char *err, size_t errlen)
{
    char crt[PATH_MAX], key[PATH_MAX], what[PATH_MAX + 64];
    int ret;

    if (pki_path(crt, dir, "ca", ".crt", err, errlen) != 0 ||
        pki_path(key, dir, "ca", ".key", err, errlen) != 0 ||
        pki_need_existing(crt, dir, err, errlen) != 0 ||
        pki_need_existing(key, dir, err, errlen) != 0)
        return -1;
    ret = mbedtls_x509_crt_parse_file(&c->ca_crt, crt);
    if (ret != 0) {
        snprintf(what, sizeof what, "reading the CA certificate %s", crt);
        return pki_tls_fail(err, errlen, what, ret);
    }
    ret = mbedtls_pk_parse_keyfile(&c->ca_key, key, NULL);
    if (ret != 0) {
        snprintf(what, sizeof what, "reading the CA key %s", key);
        return pki_tls_fail(err, errlen, what, ret);
    }
    if (mbedtls_pk_check_pair(&c->ca_crt.pk, &c->ca_key) != 0) {
        snprintf(err, errlen, "%s does not belong to %s; restore the pair made by "
                 "smpctl pki init", key, crt);
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
    return ret == 0 ? 0 : pki_tls_fail(err, errlen, "setting the validity", ret);
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
    return ret == 0 ? 0 : pki_tls_fail(err, errlen, "setting the serial number", ret);
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

/* subjectAltName of the broker: the --host and --ip names, or localhost and
 * 127.0.0.1 when none was given, so clients that check the host name accept
 * the local broker whether they dial "localhost" or the address. */
static int set_broker_san(mbedtls_x509write_cert *crt, const struct pki_req *req, char *err,
                          size_t errlen)
{
    static const char *const def_hosts[] = {"localhost"}, *const def_ips[] = {"127.0.0.1"};
    bool dflt = req->nhosts == 0 && req->nips == 0;
    unsigned char buf[PKI_SAN_DER_MAX], *der;
    size_t len;
    int ret;

    if (pki_san_der(dflt ? def_hosts : req->hosts, dflt ? 1 : req->nhosts,
                    dflt ? def_ips : req->ips, dflt ? 1 : req->nips, buf, sizeof buf, &der, &len,
                    err, errlen) != 0)
        return -1;
    /* Not critical: the subject (CN=smp-broker) is not empty (RFC 5280 4.2.1.6). */
    ret = mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                              0, der, len);
    return ret == 0 ? 0 : pki_tls_fail(err, errlen, "adding the subjectAltName", ret);
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
    return ret;
}

static void subject_of(const struct pki_req *req, char *out, size_t outlen)
{
    switch (req->kind) {
    case PKI_CA: snprintf(out, outlen, "%s", PKI_CA_SUBJECT); break;
    case PKI_BROKER: snprintf(out, outlen, "%s", PKI_BROKER_SUBJECT); break;
    case PKI_COLLECTOR:
        snprintf(out, outlen, "O=smpfleet,CN=%s", req->name ? req->name : IDS_COLLECTOR_CN);
        break;
    case PKI_EXPORT: snprintf(out, outlen, "O=smpfleet,CN=smp-export"); break;
    default: snprintf(out, outlen, "O=smpfleet,CN=%s", req->device_id); break;
    }
}

static int build_cert(struct pki_crypto *c, const struct pki_req *req, char *err, size_t errlen)
{
    mbedtls_pk_context *issuer = req->kind == PKI_CA ? &c->key : &c->ca_key;
    enum pki_kind profile = req->kind == PKI_RENEW_DEVICE ? PKI_DEVICE : req->kind;
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
        return pki_tls_fail(err, errlen, "setting the subject/issuer name", ret);
    if (profile == PKI_BROKER && set_broker_san(&c->crt, req, err, errlen) != 0)
        return -1;
    ret = set_profile(&c->crt, profile);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_subject_key_identifier(&c->crt);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_authority_key_identifier(&c->crt);
    return ret == 0 ? 0 : pki_tls_fail(err, errlen, "adding certificate extensions", ret);
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
        return pki_tls_fail(err, errlen, "signing the certificate", ret);
    ret = mbedtls_x509_crt_parse(&c->check, pem, strlen((char *)pem) + 1);
    if (ret != 0)
        return pki_tls_fail(err, errlen, "parsing the new certificate back", ret);
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

int pki_make_cert(const struct pki_req *req, struct pki_made *out, char *err, size_t errlen)
{
    struct pki_crypto c;
    int ret, rc = -1;

    crypto_init(&c);
    memset(out, 0, sizeof *out);
    if (req->kind != PKI_CA && load_ca(&c, req->dir, err, errlen) != 0)
        goto cleanup;
    if (seed_and_keygen(&c, err, errlen) != 0 || build_cert(&c, req, err, errlen) != 0)
        goto cleanup;
    if (sign_and_check(&c, req, (unsigned char *)out->crt_pem, sizeof out->crt_pem, err,
                       errlen) != 0)
        goto cleanup;
    ret = mbedtls_pk_write_key_pem(&c.key, (unsigned char *)out->key_pem, sizeof out->key_pem);
    if (ret != 0) {
        pki_tls_fail(err, errlen, "encoding the private key", ret);
        goto cleanup;
    }
    rc = 0;
cleanup:
    crypto_free(&c);
    return rc;
}

/* mosquitto 2.0 started as root switches to user mosquitto *before* it loads
 * certfile/keyfile (seen with 2.0.11: a 0600 root key fails with "Unable to
 * load server key file ... Permission denied"). So when root issues the
 * broker key, the mosquitto group may read it, and the collector key the
 * smpfleet group (the packages' service user); otherwise only its owner. */
void pki_key_access(enum pki_kind kind, mode_t *mode, gid_t *gid)
{
    struct group *g;

    *mode = PKI_KEY_MODE;
    *gid = (gid_t)-1;
    if (geteuid() != 0)
        return;
    /* Issued by root for a daemon that runs as its own user: mosquitto
     * reads broker.key after dropping to user mosquitto, and the packaged
     * smp-collector runs as user smpfleet. */
    if (kind == PKI_BROKER)
        g = getgrnam("mosquitto");
    else if (kind == PKI_COLLECTOR)
        g = getgrnam("smpfleet");
    else
        return;
    if (g) {
        *mode = 0640;
        *gid = g->gr_gid;
    }
}

static int write_pair(const struct pki_req *req, const struct pki_files *f,
                      const struct pki_made *m, char *err, size_t errlen)
{
    mode_t mode;
    gid_t gid;

    pki_key_access(req->kind, &mode, &gid);
    if (pki_write_new_file(f->key, m->key_pem, strlen(m->key_pem), mode, gid, err, errlen) != 0)
        return -1;
    if (pki_write_new_file(f->crt, m->crt_pem, strlen(m->crt_pem), PKI_CRT_MODE,
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
int pki_issue_export(const struct pki_req *req, char *err, size_t errlen)
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
        pki_tls_fail(err, errlen, "encoding the export key", ret);
        goto cleanup;
    }
    if (pki_write_new_file(f.key, key_pem, strlen((char *)key_pem), PKI_KEY_MODE, (gid_t)-1, err,
                           errlen) != 0)
        goto cleanup;
    if (pki_write_new_file(f.crt, pub_pem, strlen((char *)pub_pem), PKI_CRT_MODE, (gid_t)-1, err,
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

/* init also writes an empty CRL: run-broker.sh configures crlfile whenever
 * crl.pem exists, and a broker must never fail to start for lack of one. */
static int finish_ca(const char *dir, char *err, size_t errlen)
{
    struct pki_index idx = {0};
    int rc;

    rc = pki_index_load(dir, &idx, err, errlen);
    if (rc == 0)
        rc = pki_crl_write(dir, &idx, err, errlen);
    pki_index_free(&idx);
    return rc;
}

int pki_issue(const struct pki_req *req, char *err, size_t errlen)
{
    struct pki_files f;
    struct pki_made *m = malloc(sizeof *m);
    struct pki_certinfo ci;
    int rc = -1;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (prepare_files(req, &f, err, errlen) != 0 || pki_make_cert(req, m, err, errlen) != 0 ||
        write_pair(req, &f, m, err, errlen) != 0)
        goto cleanup;
    printf("smpctl pki: wrote %s and %s\n", f.crt, f.key);
    if (pki_certinfo_pem(m->crt_pem, &ci, err, errlen) != 0 ||
        pki_index_record(req->dir, &ci, f.rel, err, errlen) != 0) {
        char why[PKI_ERR_MAX / 2];
        snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, err);
        snprintf(err, errlen, "%s was written but not recorded in index.txt (%s); "
                 "'smpctl pki crl --dir %s' adds it", f.crt, why, req->dir);
        goto cleanup;
    }
    if (req->kind == PKI_CA) {
        if (finish_ca(req->dir, err, errlen) != 0)
            goto cleanup;
        printf("smpctl pki: wrote %s/crl.pem (no certificate revoked)\n", req->dir);
    }
    rc = 0;
cleanup:
    mbedtls_platform_zeroize(m, sizeof *m);
    free(m);
    return rc;
}
