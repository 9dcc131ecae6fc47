/* test_pki: `smpctl pki` issues a CA and leaves that verify, carry the right
 * names, usages and SAN, have private key files, and never overwrite. Each
 * test gets its own mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "db.h"
#include "ids.h"
#include "pki.h"
#include "registry.h"
#include "testdb.h"

/* Fixture paths are kept short enough that every path built from them fits
 * PATH_MAX, which also keeps -Wformat-truncation quiet. */
#define FIX_DIR_MAX 512

struct fixture {
    char dir[FIX_DIR_MAX];      /* the mkdtemp directory, removed afterwards */
    char pki[FIX_DIR_MAX + 8];  /* dir/pki: created by init itself */
    char db[TESTDB_TARGET_MAX]; /* a registry (testdb_new) when a test made one */
};

/* Runs pki_cmd with a NULL-terminated list of arguments. */
static int run(const char *first, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return pki_cmd(argc, argv);
}

static void path(char *out, const struct fixture *f, const char *rel)
{
    assert_true(strlen(rel) < PATH_MAX - sizeof f->pki - 1);
    snprintf(out, PATH_MAX, "%.*s/%.*s", (int)sizeof f->pki, f->pki, PATH_MAX - (int)sizeof f->pki - 2, rel);
}

static int exists(const struct fixture *f, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;

    path(p, f, rel);
    return lstat(p, &st) == 0;
}

static mode_t mode_of(const struct fixture *f, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;

    path(p, f, rel);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static void remove_tree(const char *p)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char child[PATH_MAX];

    if (lstat(p, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(p);
        return;
    }
    d = opendir(p);
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof child, "%s/%s", p, e->d_name);
        remove_tree(child);
    }
    if (d)
        closedir(d);
    rmdir(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (!f)
        return -1;
    tmp = tmp && *tmp && strlen(tmp) < FIX_DIR_MAX - 20 ? tmp : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%.*s/test_pki.XXXXXX", FIX_DIR_MAX - 20, tmp);
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->pki, sizeof f->pki, "%.*s/pki", FIX_DIR_MAX - 1, f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->db[0])
        testdb_drop(f->db);
    remove_tree(f->dir);
    free(f);
    return 0;
}

static void init_ca(const struct fixture *f)
{
    assert_int_equal(run("init", "--dir", f->pki, NULL), 0);
}

static void load_crt(const struct fixture *f, const char *rel, mbedtls_x509_crt *crt)
{
    char p[PATH_MAX];

    path(p, f, rel);
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse_file(crt, p), 0);
}

/* The value of the subject's CN, compared exactly (not as a substring). */
static void assert_cn(const mbedtls_x509_crt *crt, const char *want)
{
    const mbedtls_x509_name *n;

    for (n = &crt->subject; n; n = n->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
            break;
    }
    assert_non_null(n);
    assert_int_equal(n->val.len, strlen(want));
    assert_memory_equal(n->val.p, want, strlen(want));
}

/* Verifies rel against pki/ca.crt with mbedTLS's default profile. */
static void assert_verifies(const struct fixture *f, const char *rel)
{
    mbedtls_x509_crt ca, crt;
    uint32_t flags = 0xffffffff;

    load_crt(f, "ca.crt", &ca);
    load_crt(f, rel, &crt);
    assert_int_equal(mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);
}

/* The key file holds the private half of the certificate's public key. */
static void assert_key_matches(const struct fixture *f, const char *crt_rel, const char *key_rel)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    char p[PATH_MAX];

    load_crt(f, crt_rel, &crt);
    mbedtls_pk_init(&key);
    path(p, f, key_rel);
    assert_int_equal(mbedtls_pk_parse_keyfile(&key, p, NULL), 0);
    assert_int_equal(mbedtls_pk_get_type(&key), MBEDTLS_PK_ECKEY);
    assert_int_equal(mbedtls_pk_get_bitlen(&key), 256);
    assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &key), 0);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&crt);
}

static time_t x509_time_to_t(const mbedtls_x509_time *t)
{
    struct tm tm = {0};

    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return timegm(&tm);
}

static void test_init_makes_a_ca(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crt ca;

    init_ca(f);
    load_crt(f, "ca.crt", &ca);
    assert_cn(&ca, "smpfleet CA");
    assert_true(ca.ca_istrue);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
    assert_int_equal(ca.sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(ca.sig_pk, MBEDTLS_PK_ECDSA);
    /* Default CA validity is 3650 days from now (minus a small backdate). */
    assert_true(labs((long)(x509_time_to_t(&ca.valid_to) - (time(NULL) + 3650L * 86400))) < 120);
    mbedtls_x509_crt_free(&ca);
    assert_verifies(f, "ca.crt");
    assert_key_matches(f, "ca.crt", "ca.key");
    assert_int_equal(mode_of(f, "ca.key"), 0600);
    assert_int_equal(mode_of(f, "ca.crt"), 0644);
    assert_int_equal(mode_of(f, "."), 0755);
}

static void test_issue_device(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crt crt;

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    load_crt(f, "devices/dev-a.crt", &crt);
    assert_cn(&crt, "dev-a");
    assert_false(crt.ca_istrue);
    assert_int_equal(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_ECKEY);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
    assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(
                             &crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), 0);
    assert_int_equal(crt.serial.len, 16);
    assert_true(labs((long)(x509_time_to_t(&crt.valid_to) - (time(NULL) + 825L * 86400))) < 120);
    mbedtls_x509_crt_free(&crt);
    assert_verifies(f, "devices/dev-a.crt");
    assert_key_matches(f, "devices/dev-a.crt", "devices/dev-a.key");
    assert_int_equal(mode_of(f, "devices/dev-a.key"), 0600);
    assert_int_equal(mode_of(f, "devices/dev-a.crt"), 0644);
    assert_int_equal(mode_of(f, "devices"), 0755);
}

static void test_serials_differ(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crt a, b;

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    assert_int_equal(run("issue-device", "dev-b", "--dir", f->pki, NULL), 0);
    load_crt(f, "devices/dev-a.crt", &a);
    load_crt(f, "devices/dev-b.crt", &b);
    assert_int_equal(a.serial.len, b.serial.len);
    assert_memory_not_equal(a.serial.p, b.serial.p, a.serial.len);
    mbedtls_x509_crt_free(&b);
    mbedtls_x509_crt_free(&a);
}

static void test_days_option(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crt crt;

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, "--days", "30", NULL), 0);
    load_crt(f, "devices/dev-a.crt", &crt);
    assert_true(labs((long)(x509_time_to_t(&crt.valid_to) - (time(NULL) + 30L * 86400))) < 120);
    /* notBefore is backdated a little, never in the future. */
    assert_true(x509_time_to_t(&crt.valid_from) <= time(NULL));
    mbedtls_x509_crt_free(&crt);
}

static int has_san(const mbedtls_x509_crt *crt, unsigned char tag, const void *val, size_t len)
{
    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
        if (s->buf.tag == tag && s->buf.len == len && memcmp(s->buf.p, val, len) == 0)
            return 1;
    }
    return 0;
}

static void test_issue_broker(void **state)
{
    static const unsigned char loopback[4] = {127, 0, 0, 1};
    const struct fixture *f = *state;
    mbedtls_x509_crt crt;
    struct group *g = getgrnam("mosquitto");
    struct stat st;
    char p[PATH_MAX];

    init_ca(f);
    assert_int_equal(run("issue-broker", "--dir", f->pki, NULL), 0);
    load_crt(f, "broker.crt", &crt);
    assert_int_not_equal(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME, 0);
    assert_true(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, "localhost", 9));
    assert_true(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, loopback, 4));
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
    assert_false(crt.ca_istrue);
    mbedtls_x509_crt_free(&crt);
    assert_verifies(f, "broker.crt");
    assert_key_matches(f, "broker.crt", "broker.key");
    /* Root gives group mosquitto read access (the broker reads the key after
     * dropping to that user); everyone else gets an owner-only key. */
    path(p, f, "broker.key");
    assert_int_equal(stat(p, &st), 0);
    if (geteuid() == 0 && g) {
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_gid, g->gr_gid);
    } else {
        assert_int_equal(st.st_mode & 07777, 0600);
    }
}

/* Root gives group smpfleet (the packaged collector's user, when that group
 * exists) read access to a collector key; everyone else gets an owner-only
 * key. */
static void assert_collector_key_mode(const struct fixture *f, const char *rel)
{
    struct group *g = getgrnam("smpfleet");
    char p[PATH_MAX];
    struct stat st;

    path(p, f, rel);
    assert_int_equal(stat(p, &st), 0);
    if (geteuid() == 0 && g) {
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_gid, g->gr_gid);
    } else {
        assert_int_equal(st.st_mode & 07777, 0600);
    }
}

static void test_issue_collector(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crt crt;

    init_ca(f);
    assert_int_equal(run("issue-collector", "--dir", f->pki, NULL), 0);
    load_crt(f, "collector.crt", &crt);
    assert_cn(&crt, IDS_COLLECTOR_CN);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
    mbedtls_x509_crt_free(&crt);
    assert_verifies(f, "collector.crt");
    assert_collector_key_mode(f, "collector.key");
}

static void test_bad_device_ids(void **state)
{
    static const char *const bad[] = {"AB", "smp-x", "a/b", "ab", "", "../../etc", "dev_a"};
    const struct fixture *f = *state;
    char rel[PATH_MAX];

    init_ca(f);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(run("issue-device", bad[i], "--dir", f->pki, NULL), 0);
        snprintf(rel, sizeof rel, "devices/%s.crt", bad[i]);
        assert_false(exists(f, rel));
    }
    assert_false(exists(f, "devices/a"));
    assert_false(exists(f, "devices")); /* nothing was issued, nothing made */
}

static void read_file(const char *p, char *buf, size_t len)
{
    FILE *fp = fopen(p, "rb");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

static void test_refuses_to_overwrite(void **state)
{
    const struct fixture *f = *state;
    char p[PATH_MAX], before[8192], after[8192];

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    path(p, f, "devices/dev-a.key");
    read_file(p, before, sizeof before);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 1);
    read_file(p, after, sizeof after);
    assert_string_equal(before, after);
    assert_verifies(f, "devices/dev-a.crt");
    assert_key_matches(f, "devices/dev-a.crt", "devices/dev-a.key");

    path(p, f, "ca.crt");
    read_file(p, before, sizeof before);
    assert_int_equal(run("init", "--dir", f->pki, NULL), 1);
    read_file(p, after, sizeof after);
    assert_string_equal(before, after);

    assert_int_equal(run("issue-broker", "--dir", f->pki, NULL), 0);
    assert_int_equal(run("issue-broker", "--dir", f->pki, NULL), 1);
}

static void test_issue_without_init(void **state)
{
    const struct fixture *f = *state;

    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 1);
    assert_int_equal(run("issue-broker", "--dir", f->pki, NULL), 1);
    assert_int_equal(run("issue-collector", "--dir", f->pki, NULL), 1);
    assert_false(exists(f, "."));
    /* An existing but empty directory is not a CA either. */
    assert_int_equal(mkdir(f->pki, 0755), 0);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 1);
    assert_false(exists(f, "devices"));
}

static void test_usage_errors(void **state)
{
    const struct fixture *f = *state;

    assert_int_equal(run("init", NULL), 2);
    assert_int_equal(run("bogus", "--dir", f->pki, NULL), 2);
    assert_int_equal(run("issue-device", "--dir", f->pki, NULL), 2);
    assert_int_equal(run("init", "--dir", f->pki, "--days", "0", NULL), 2);
    assert_int_equal(run("init", "--dir", f->pki, "--days", "ten", NULL), 2);
    assert_int_equal(run("init", "--dir", NULL), 2);
    assert_int_equal(run("init", "--dir", f->pki, "extra", NULL), 2);
    assert_false(exists(f, "."));
}

/* ---- SAN, collectors, CRL, renewal, status -------------------------------- */

/* The file's certificate parsed from its bytes (not parse_file), as a
 * client would see it on the wire. */
static void parse_crt_bytes(const struct fixture *f, const char *rel, mbedtls_x509_crt *crt)
{
    char p[PATH_MAX], buf[8192];

    path(p, f, rel);
    read_file(p, buf, sizeof buf);
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse(crt, (const unsigned char *)buf, strlen(buf) + 1), 0);
}

static int san_count(const mbedtls_x509_crt *crt)
{
    int n = 0;

    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next)
        n++;
    return n;
}

static void test_broker_san_names(void **state)
{
    static const unsigned char v4[4] = {10, 1, 2, 3};
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0x10};
    static const unsigned char loopback[4] = {127, 0, 0, 1};
    const struct fixture *f = *state;
    mbedtls_x509_crt crt;

    init_ca(f);
    assert_int_equal(run("issue-broker", "--dir", f->pki, "--host", "broker.clinic.example",
                         "--ip", "10.1.2.3", "--host", "mqtt", "--ip", "2001:db8::10", NULL), 0);
    parse_crt_bytes(f, "broker.crt", &crt);
    assert_int_equal(san_count(&crt), 4);
    assert_true(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, "broker.clinic.example", 21));
    assert_true(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, "mqtt", 4));
    assert_true(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, v4, 4));
    assert_true(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, v6, 16));
    /* Names given replace the default ones. */
    assert_false(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, "localhost", 9));
    assert_false(has_san(&crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, loopback, 4));
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
    mbedtls_x509_crt_free(&crt);
    assert_verifies(f, "broker.crt");
}

static void test_broker_bad_names(void **state)
{
    static const char *const bad_ip[] = {"300.1.2.3", "10.1.2", "localhost", "::g", ""};
    static const char *const bad_host[] = {"a_b", "-x.example", "x-.example", "a..b", "*.example",
                                           "10.0.0.1", "::1", ""};
    const struct fixture *f = *state;

    init_ca(f);
    for (size_t i = 0; i < sizeof bad_ip / sizeof bad_ip[0]; i++)
        assert_int_equal(run("issue-broker", "--dir", f->pki, "--ip", bad_ip[i], NULL), 2);
    for (size_t i = 0; i < sizeof bad_host / sizeof bad_host[0]; i++)
        assert_int_equal(run("issue-broker", "--dir", f->pki, "--host", bad_host[i], NULL), 2);
    assert_false(exists(f, "broker.crt"));
    assert_false(exists(f, "broker.key"));
    /* --host/--ip belong to issue-broker only. */
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, "--ip", "10.0.0.1", NULL), 2);
}

static void test_collector_names(void **state)
{
    static const char *const bad[] = {"collector-2", "smp-collector-", "smp-collector-A",
                                      "smp-collectorx", "smp-collector-a/b", "smp-collector--"};
    const struct fixture *f = *state;
    mbedtls_x509_crt crt;

    init_ca(f);
    assert_int_equal(run("issue-collector", "--dir", f->pki, "--name", "smp-collector-2", NULL), 0);
    load_crt(f, "collector-2.crt", &crt);
    assert_cn(&crt, "smp-collector-2");
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
    mbedtls_x509_crt_free(&crt);
    assert_verifies(f, "collector-2.crt");
    assert_key_matches(f, "collector-2.crt", "collector-2.key");
    assert_collector_key_mode(f, "collector-2.key");
    /* --name smp-collector is the default identity and its files. */
    assert_int_equal(run("issue-collector", "--dir", f->pki, "--name", IDS_COLLECTOR_CN, NULL), 0);
    load_crt(f, "collector.crt", &crt);
    assert_cn(&crt, IDS_COLLECTOR_CN);
    mbedtls_x509_crt_free(&crt);
    assert_int_equal(run("issue-collector", "--dir", f->pki, "--name", "smp-collector-2", NULL), 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(run("issue-collector", "--dir", f->pki, "--name", bad[i], NULL), 2);
}

static void load_crl(const struct fixture *f, mbedtls_x509_crl *crl)
{
    char p[PATH_MAX];

    path(p, f, "crl.pem");
    mbedtls_x509_crl_init(crl);
    assert_int_equal(mbedtls_x509_crl_parse_file(crl, p), 0);
}

static int crl_lists(const mbedtls_x509_crl *crl, const mbedtls_x509_buf *serial)
{
    for (const mbedtls_x509_crl_entry *e = &crl->entry; e && e->raw.p; e = e->next)
        if (e->serial.len == serial->len && memcmp(e->serial.p, serial->p, serial->len) == 0)
            return 1;
    return 0;
}

static int crl_entries(const mbedtls_x509_crl *crl)
{
    int n = 0;

    for (const mbedtls_x509_crl_entry *e = &crl->entry; e && e->raw.p; e = e->next)
        n++;
    return n;
}

/* Verification flags of rel against ca.crt and crl.pem (0: accepted). */
static uint32_t verify_with_crl(const struct fixture *f, const char *rel)
{
    mbedtls_x509_crt ca, crt;
    mbedtls_x509_crl crl;
    uint32_t flags = 0;

    load_crt(f, "ca.crt", &ca);
    load_crt(f, rel, &crt);
    load_crl(f, &crl);
    mbedtls_x509_crt_verify(&crt, &ca, &crl, NULL, &flags, NULL, NULL);
    mbedtls_x509_crl_free(&crl);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);
    return flags;
}

static void test_init_writes_empty_crl(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crl crl;
    mbedtls_x509_crt ca;

    init_ca(f);
    load_crl(f, &crl);
    load_crt(f, "ca.crt", &ca);
    assert_int_equal(crl.version, 2);
    assert_int_equal(crl_entries(&crl), 0);
    assert_int_equal(crl.issuer_raw.len, ca.subject_raw.len);
    assert_memory_equal(crl.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len);
    /* nextUpdate is the CA's end: the broker never meets an expired CRL
     * while the CA is valid. */
    assert_int_equal(x509_time_to_t(&crl.next_update), x509_time_to_t(&ca.valid_to));
    assert_true(labs((long)(x509_time_to_t(&crl.this_update) - time(NULL))) < 120);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crl_free(&crl);
    assert_int_equal(mode_of(f, "crl.pem"), 0644);
    assert_true(exists(f, "index.txt"));
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    /* mbedTLS checks the CRL's signature with the CA and accepts dev-a. */
    assert_int_equal(verify_with_crl(f, "devices/dev-a.crt"), 0);
}

static void test_revoke_device(void **state)
{
    const struct fixture *f = *state;
    mbedtls_x509_crt a, b;
    mbedtls_x509_crl crl;
    char p[PATH_MAX], idx[8192];

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    assert_int_equal(run("issue-device", "dev-b", "--dir", f->pki, NULL), 0);
    assert_int_equal(run("revoke-device", "dev-a", "--dir", f->pki, "--reason", "keyCompromise",
                         NULL), 0);
    load_crt(f, "devices/dev-a.crt", &a);
    load_crt(f, "devices/dev-b.crt", &b);
    load_crl(f, &crl);
    assert_int_equal(crl_entries(&crl), 1);
    assert_true(crl_lists(&crl, &a.serial));
    assert_false(crl_lists(&crl, &b.serial));
    mbedtls_x509_crl_free(&crl);
    mbedtls_x509_crt_free(&b);
    mbedtls_x509_crt_free(&a);
    assert_true(verify_with_crl(f, "devices/dev-a.crt") & MBEDTLS_X509_BADCERT_REVOKED);
    assert_int_equal(verify_with_crl(f, "devices/dev-b.crt"), 0);
    path(p, f, "index.txt");
    read_file(p, idx, sizeof idx);
    assert_non_null(strstr(idx, ",keyCompromise\t"));
    /* Again: nothing left to revoke is not an error; unknown ids are. */
    assert_int_equal(run("revoke-device", "dev-a", "--dir", f->pki, NULL), 0);
    assert_int_equal(run("revoke-device", "dev-zz", "--dir", f->pki, NULL), 1);
    assert_int_equal(run("revoke-device", "dev-b", "--dir", f->pki, "--reason", "bogus", NULL), 1);
    assert_int_equal(verify_with_crl(f, "devices/dev-b.crt"), 0);
    assert_int_equal(run("revoke", "--dir", f->pki, NULL), 2);
}

static void read_serial_hex(const struct fixture *f, const char *rel, char *out, size_t cap)
{
    mbedtls_x509_crt crt;
    size_t n = 0;

    load_crt(f, rel, &crt);
    for (size_t i = 0; i < crt.serial.len && n + 3 <= cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%02X", crt.serial.p[i]);
    mbedtls_x509_crt_free(&crt);
}

static void test_renew_keeps_old_pair(void **state)
{
    const struct fixture *f = *state;
    char p[PATH_MAX], old_crt[8192], old_key[8192], now_crt[8192], now_key[8192];
    char serial[64], old_rel[PATH_MAX], old_rel_key[PATH_MAX], new_serial[64];

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    path(p, f, "devices/dev-a.crt");
    read_file(p, old_crt, sizeof old_crt);
    path(p, f, "devices/dev-a.key");
    read_file(p, old_key, sizeof old_key);
    read_serial_hex(f, "devices/dev-a.crt", serial, sizeof serial);

    assert_int_equal(run("renew-device", "dev-a", "--dir", f->pki, "--days", "400", NULL), 0);
    snprintf(old_rel, sizeof old_rel, "devices/dev-a.%s.crt", serial);
    snprintf(old_rel_key, sizeof old_rel_key, "devices/dev-a.%s.key", serial);
    /* The old pair, byte for byte, under its kept name; still valid. */
    path(p, f, old_rel);
    read_file(p, now_crt, sizeof now_crt);
    assert_string_equal(now_crt, old_crt);
    path(p, f, old_rel_key);
    read_file(p, now_key, sizeof now_key);
    assert_string_equal(now_key, old_key);
    assert_int_equal(mode_of(f, old_rel_key), 0600);
    assert_int_equal(verify_with_crl(f, old_rel), 0);
    /* The new pair under the current name: new key, new serial, same CN. */
    path(p, f, "devices/dev-a.key");
    read_file(p, now_key, sizeof now_key);
    assert_string_not_equal(now_key, old_key);
    assert_int_equal(mode_of(f, "devices/dev-a.key"), 0600);
    read_serial_hex(f, "devices/dev-a.crt", new_serial, sizeof new_serial);
    assert_string_not_equal(new_serial, serial);
    assert_key_matches(f, "devices/dev-a.crt", "devices/dev-a.key");
    assert_key_matches(f, old_rel, old_rel_key);
    assert_int_equal(verify_with_crl(f, "devices/dev-a.crt"), 0);

    /* Retiring only the old one leaves the new one working. */
    assert_int_equal(run("revoke", "--dir", f->pki, "--serial", serial, "--reason", "superseded",
                         NULL), 0);
    assert_true(verify_with_crl(f, old_rel) & MBEDTLS_X509_BADCERT_REVOKED);
    assert_int_equal(verify_with_crl(f, "devices/dev-a.crt"), 0);
    /* revoke --cert FILE names the certificate by its file. */
    path(p, f, "devices/dev-a.crt");
    assert_int_equal(run("revoke", "--dir", f->pki, "--cert", p, NULL), 0);
    assert_true(verify_with_crl(f, "devices/dev-a.crt") & MBEDTLS_X509_BADCERT_REVOKED);
    /* Renewing something never issued is an error, not a first issue. */
    assert_int_equal(run("renew-device", "dev-new", "--dir", f->pki, NULL), 1);
    assert_false(exists(f, "devices/dev-new.crt"));
}

static int count_files(const struct fixture *f, const char *rel)
{
    char p[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int n = 0;

    path(p, f, rel);
    d = opendir(p);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_renew_updates_registry(void **state)
{
    struct fixture *f = *state;
    char p[PATH_MAX], crt[8192], err[512], before[8192], after[8192];
    const char *dbp = f->db;
    registry_new dev = {.device_id = "dev-a", .clinic = "North"};
    registry_cert_change ch;
    sqldb *db = NULL;
    sqldb_stmt *st = NULL;

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    path(p, f, "devices/dev-a.crt");
    read_file(p, crt, sizeof crt);
    testdb_new(f->db, sizeof f->db);
    assert_int_equal(db_open(dbp, &db, err, sizeof err), 0);
    dev.cert_pem = crt;
    assert_int_equal(registry_add(db, &dev, "2026-11-23T09:00:00.000Z", err, sizeof err), 0);
    /* Unregistered device: refused before anything is issued or moved. */
    assert_int_equal(run("issue-device", "dev-b", "--dir", f->pki, NULL), 0);
    path(p, f, "devices/dev-b.crt");
    read_file(p, before, sizeof before);
    assert_int_equal(run("renew-device", "dev-b", "--dir", f->pki, "--db", dbp, NULL), 1);
    read_file(p, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(count_files(f, "devices"), 4); /* dev-a and dev-b pairs only */

    assert_int_equal(run("renew-device", "dev-a", "--dir", f->pki, "--db", dbp, NULL), 0);
    path(p, f, "devices/dev-a.crt");
    read_file(p, crt, sizeof crt);
    assert_int_equal(sqldb_prepare(db, "SELECT cert_pem FROM devices WHERE device_id = 'dev-a'", &st), 0);
    assert_int_equal(sqldb_step(st), 1);
    assert_string_equal(sqldb_column_text(st, 0), crt);
    sqldb_finalize(st);
    assert_int_equal(registry_cert_history_count(db, "dev-a", err, sizeof err), 1);
    /* Registering the same file again changes nothing. */
    assert_int_equal(registry_set_cert(db, "dev-a", crt, "2026-11-24T09:00:00.000Z", false, &ch,
                                       err, sizeof err), 0);
    assert_int_equal(ch, REGISTRY_CERT_UNCHANGED);
    sqldb_close(db);
}

/* Runs pki_cmd (arguments as for run) with stdout and stderr captured into
 * out; returns its result. */
static int run_captured(char *out, size_t cap, const char *first, ...)
{
    char *argv[16];
    int argc = 0, saved_out, saved_err, rc;
    FILE *tmp = tmpfile();
    va_list ap;
    size_t n;

    va_start(ap, first);
    for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    assert_non_null(tmp);
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    assert_true(saved_out >= 0 && saved_err >= 0);
    assert_int_equal(dup2(fileno(tmp), STDOUT_FILENO), STDOUT_FILENO);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    rc = pki_cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    assert_int_equal(dup2(saved_out, STDOUT_FILENO), STDOUT_FILENO);
    assert_int_equal(dup2(saved_err, STDERR_FILENO), STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    rewind(tmp);
    n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

/* issue-viewer records the viewer's scope in the registry with its files;
 * what it prints names the database masked (PostgreSQL: no password). */
static void test_issue_viewer_records_scope(void **state)
{
    struct fixture *f = *state;
    char target[TESTDB_TARGET_MAX + 64], out[4096], err[512], p[PATH_MAX];
    registry_viewer *v = NULL;
    size_t n = 0;
    sqldb *db = NULL;

    init_ca(f);
    testdb_new(f->db, sizeof f->db);
    if (testdb_is_postgres())
        testdb_with_secret(f->db, NULL, target, sizeof target);
    else
        snprintf(target, sizeof target, "%s", f->db);
    assert_int_equal(run_captured(out, sizeof out, "issue-viewer", "north-desk", "--dir", f->pki,
                                  "--clinic", "north", "--db", target, NULL), 0);
    assert_non_null(strstr(out, "smpctl broker acl --db "));
    assert_null(strstr(out, "secret"));
    if (testdb_is_postgres())
        assert_non_null(strstr(out, "password=***"));
    path(p, f, "viewer-north-desk.crt");
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(db_open(f->db, &db, err, sizeof err), 0);
    assert_int_equal(registry_list_viewers(db, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "north-desk");
    assert_string_equal(v[0].clinic, "north");
    free(v);
    /* The same name again, its files gone: the registry refuses it inside
     * the transaction, which rolls back; no files are written. */
    assert_int_equal(unlink(p), 0);
    path(p, f, "viewer-north-desk.key");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(run_captured(out, sizeof out, "issue-viewer", "north-desk", "--dir", f->pki,
                                  "--all", "--db", f->db, NULL), 1);
    assert_non_null(strstr(out, "viewer 'north-desk' is already recorded"));
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(testdb_int(db, "SELECT COUNT(*) FROM viewers"), 1);
    sqldb_close(db);
}

/* PostgreSQL: a password in --db never reaches the terminal when the
 * database cannot be opened, and nothing is issued. */
static void test_db_password_never_shown(void **state)
{
    struct fixture *f = *state;
    char uri[TESTDB_TARGET_MAX + 64], out[4096];

    if (!testdb_is_postgres())
        skip();
    init_ca(f);
    testdb_new(f->db, sizeof f->db);
    testdb_with_secret(f->db, "smp_no_such_db", uri, sizeof uri);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    assert_int_equal(run_captured(out, sizeof out, "renew-device", "dev-a", "--dir", f->pki,
                                  "--db", uri, NULL), 1);
    if (!strstr(out, "***") || strstr(out, "secret"))
        fail_msg("renew-device: %s", out);
    assert_int_equal(count_files(f, "devices"), 2);  /* dev-a's pair only */
    assert_int_equal(run_captured(out, sizeof out, "issue-viewer", "desk", "--dir", f->pki,
                                  "--all", "--db", uri, NULL), 1);
    if (!strstr(out, "***") || strstr(out, "secret"))
        fail_msg("issue-viewer: %s", out);
}

/* pki_status into a temp file; returns its result, output in out. */
static int status_at(const struct fixture *f, time_t now, long warn, char *out, size_t cap)
{
    char err[1024] = "";
    FILE *fp = tmpfile();
    size_t n;
    int rc;

    assert_non_null(fp);
    rc = pki_status(f->pki, warn, now, fp, err, sizeof err);
    rewind(fp);
    n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
    return rc;
}

/* The status line of file rel (state first). */
static const char *status_line(const char *out, const char *rel, char *line, size_t cap)
{
    char pat[PATH_MAX];
    const char *p, *start, *end;

    snprintf(pat, sizeof pat, " %s ", rel);
    p = strstr(out, pat);
    assert_non_null(p);
    start = p;
    while (start > out && start[-1] != '\n')
        start--;
    end = strchr(p, '\n');
    snprintf(line, cap, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
    return line;
}

static void test_status_warn_window(void **state)
{
    const struct fixture *f = *state;
    char out[16384], line[1024];
    mbedtls_x509_crt crt;
    time_t end;

    init_ca(f);
    assert_int_equal(run("issue-broker", "--dir", f->pki, NULL), 0);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, "--days", "90", NULL), 0);
    load_crt(f, "devices/dev-a.crt", &crt);
    end = x509_time_to_t(&crt.valid_to);
    mbedtls_x509_crt_free(&crt);

    /* 31 days before dev-a's end: all fine. */
    assert_int_equal(status_at(f, end - 31 * 86400L, 30, out, sizeof out), 0);
    assert_int_equal(strncmp(status_line(out, "devices/dev-a.crt", line, sizeof line), "OK ", 3), 0);
    assert_non_null(strstr(line, "    31  no"));
    assert_null(strstr(out, "WARN"));
    /* 29 days before: WARN, exit 1. */
    assert_int_equal(status_at(f, end - 29 * 86400L, 30, out, sizeof out), 1);
    assert_int_equal(strncmp(status_line(out, "devices/dev-a.crt", line, sizeof line), "WARN ", 5), 0);
    assert_non_null(strstr(line, "    29  no"));
    assert_int_equal(strncmp(status_line(out, "broker.crt", line, sizeof line), "OK ", 3), 0);
    /* A narrower window: fine again. */
    assert_int_equal(status_at(f, end - 29 * 86400L, 7, out, sizeof out), 0);
    /* After its end: EXPIRED. */
    assert_int_equal(status_at(f, end + 60, 30, out, sizeof out), 1);
    assert_int_equal(strncmp(status_line(out, "devices/dev-a.crt", line, sizeof line), "EXPIRED ", 8), 0);
    assert_non_null(strstr(out, "crl.pem: 0 revoked, nextUpdate"));

    /* Renewed: the kept old pair expiring is listed but needs no action. */
    assert_int_equal(run("renew-device", "dev-a", "--dir", f->pki, NULL), 0);
    assert_int_equal(status_at(f, end - 29 * 86400L, 30, out, sizeof out), 0);
    assert_non_null(strstr(out, "\nkept "));
    /* A revoked certificate neither. */
    assert_int_equal(run("issue-device", "dev-b", "--dir", f->pki, "--days", "10", NULL), 0);
    assert_int_equal(status_at(f, time(NULL), 30, out, sizeof out), 1);
    assert_int_equal(run("revoke-device", "dev-b", "--dir", f->pki, NULL), 0);
    assert_int_equal(status_at(f, time(NULL), 30, out, sizeof out), 0);
    assert_int_equal(strncmp(status_line(out, "devices/dev-b.crt", line, sizeof line), "revoked ", 8), 0);
    assert_non_null(strstr(out, "crl.pem: 1 revoked"));
    /* Near the CA's end the CRL's nextUpdate warns too. */
    load_crt(f, "ca.crt", &crt);
    end = x509_time_to_t(&crt.valid_to);
    mbedtls_x509_crt_free(&crt);
    assert_int_equal(status_at(f, end - 10 * 86400L, 30, out, sizeof out), 1);
    assert_non_null(strstr(out, "WARN       crl.pem"));
}

static void test_new_subcommands_help(void **state)
{
    static const char *const subs[] = {"init", "issue-broker", "issue-collector", "issue-device",
                                       "issue-export", "renew-device", "revoke-device", "revoke",
                                       "crl", "status"};
    const struct fixture *f = *state;

    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        assert_int_equal(run(subs[i], "--help", NULL), 0);
    assert_int_equal(run("status", "--dir", f->pki, "--warn-days", "x", NULL), 2);
    assert_int_equal(run("status", "--dir", f->pki, NULL), 1); /* no CA there */
    assert_false(exists(f, "."));
}

/* A PKI made before index.txt and crl.pem existed can still revoke. */
static void test_revoke_in_old_pki(void **state)
{
    const struct fixture *f = *state;
    char p[PATH_MAX];

    init_ca(f);
    assert_int_equal(run("issue-device", "dev-a", "--dir", f->pki, NULL), 0);
    path(p, f, "index.txt");
    assert_int_equal(unlink(p), 0);
    path(p, f, "crl.pem");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(run("revoke-device", "dev-a", "--dir", f->pki, NULL), 0);
    assert_true(verify_with_crl(f, "devices/dev-a.crt") & MBEDTLS_X509_BADCERT_REVOKED);
    assert_true(exists(f, "index.txt"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_makes_a_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serials_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_days_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_broker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_collector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_device_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_to_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_without_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_san_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collector_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_writes_empty_crl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_keeps_old_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_updates_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_viewer_records_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_password_never_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_warn_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_subcommands_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_in_old_pki, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
