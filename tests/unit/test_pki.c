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
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "ids.h"
#include "pki.h"

/* Fixture paths are kept short enough that every path built from them fits
 * PATH_MAX, which also keeps -Wformat-truncation quiet. */
#define FIX_DIR_MAX 512

struct fixture {
    char dir[FIX_DIR_MAX];      /* the mkdtemp directory, removed afterwards */
    char pki[FIX_DIR_MAX + 8];  /* dir/pki: created by init itself */
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
    assert_int_equal(mode_of(f, "collector.key"), 0600);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
