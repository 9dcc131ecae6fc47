/* test_tls_identity: the daemons' start-up identity check (common/
 * tls_identity.c and the agent's and collector's CN rules) on real PEM
 * files: a matching pair, a CN that is not the configured identity, a key
 * of another certificate, unreadable files, an expired certificate and one
 * from another CA.
 *
 * The certificates are made once with the openssl command line (EC P-256,
 * like smpctl pki), including one whose validity ended yesterday, which
 * smpctl pki cannot issue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_config.h"
#include "collector_config.h"
#include "tls_identity.h"

static char dir[64];

/* dir/name into out. */
static const char *at(const char *name, char out[256])
{
    snprintf(out, 256, "%s/%s", dir, name);
    return out;
}

static int group_setup(void **state)
{
    char cmd[2048];
    (void)state;

    snprintf(dir, sizeof dir, "/tmp/test_tls_identity.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* issue NAME DAYS CA OUT: key OUT.key, certificate OUT.crt, CN NAME. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && exec >openssl.log 2>&1 && set -e\n"
             "ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
             "openssl req -x509 $ec -keyout ca.key -out ca.crt -subj /CN=test-ca -days 30\n"
             "openssl req -x509 $ec -keyout other-ca.key -out other-ca.crt -subj /CN=other-ca -days 30\n"
             "issue() { openssl req -new $ec -keyout $4.key -out $4.csr -subj /CN=$1\n"
             "  openssl x509 -req -in $4.csr -CA $3.crt -CAkey $3.key -CAcreateserial -days $2 -out $4.crt; }\n"
             "issue chair-01 30 ca chair-01\n"
             "issue chair-02 30 ca chair-02\n"
             "issue smp-collector-east 30 ca collector\n"
             "issue chair-01 -1 ca expired\n"
             "issue chair-01 30 other-ca foreign\n"
             "echo 'not a certificate' >garbage.crt\n",
             dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "openssl failed; see %s/openssl.log\n", dir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_match(void **state)
{
    char crt[256], key[256], err[1024], why[128];
    tls_identity id;
    (void)state;

    if (tls_identity_load(at("chair-01.crt", crt), at("chair-01.key", key), &id, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(id.cn, "chair-01");
    assert_int_equal(id.cn_count, 1);
    assert_false(tls_identity_expired(&id, time(NULL), why, sizeof why));
    assert_true(labs((long)(id.not_after - (time(NULL) + 30L * 86400))) < 300);
    assert_int_equal(strlen(id.not_after_text), TLS_IDENTITY_TIME_LEN);
    assert_int_equal(id.not_after_text[TLS_IDENTITY_TIME_LEN - 1], 'Z');
    if (tls_identity_check_issuer(crt, at("ca.crt", key), err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void agent_cfg(agent_config *cfg, const char *device, const char *name)
{
    char p[256];
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->device_id, sizeof cfg->device_id, "%s", device);
    snprintf(cfg->cert_file, sizeof cfg->cert_file, "%s.crt", at(name, p));
    snprintf(cfg->key_file, sizeof cfg->key_file, "%s.key", at(name, p));
}

static void test_cn_mismatch(void **state)
{
    agent_config cfg;
    collector_config ccfg;
    tls_identity id;
    char err[1024], want[1024], p[256];
    (void)state;

    agent_cfg(&cfg, "chair-01", "chair-01");
    if (agent_config_check_identity(&cfg, &id, err, sizeof err) != 0)
        fail_msg("%s", err);

    agent_cfg(&cfg, "chair-01", "chair-02");
    assert_int_equal(agent_config_check_identity(&cfg, &id, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "device_id 'chair-01' does not match the CN 'chair-02' of cert_file %s; set device_id "
             "to the certificate's CN, or point cert_file and key_file at this device's pair "
             "(smpctl pki issue-device chair-01)", cfg.cert_file);
    assert_string_equal(err, want);

    /* The collector takes any CN starting with smp-collector, nothing else. */
    memset(&ccfg, 0, sizeof ccfg);
    snprintf(ccfg.cert_file, sizeof ccfg.cert_file, "%s", at("collector.crt", p));
    snprintf(ccfg.key_file, sizeof ccfg.key_file, "%s", at("collector.key", p));
    if (collector_config_check_identity(&ccfg, &id, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(id.cn, "smp-collector-east");
    snprintf(ccfg.cert_file, sizeof ccfg.cert_file, "%s", at("chair-01.crt", p));
    snprintf(ccfg.key_file, sizeof ccfg.key_file, "%s", at("chair-01.key", p));
    assert_int_equal(collector_config_check_identity(&ccfg, &id, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "cert_file %s has the CN 'chair-01', not a collector's: the broker grants the "
             "collector topics only to a CN starting with 'smp-collector'; point cert_file and "
             "key_file at the pair from smpctl pki issue-collector", ccfg.cert_file);
    assert_string_equal(err, want);
}

static void test_key_mismatch(void **state)
{
    char crt[256], key[256], err[1024], want[1024];
    tls_identity id;
    (void)state;

    assert_int_equal(tls_identity_load(at("chair-01.crt", crt), at("chair-02.key", key), &id, err,
                                       sizeof err), -1);
    snprintf(want, sizeof want, "key_file %s is not the private key of cert_file %s (CN "
             "'chair-01'); point key_file at the .key issued with that certificate", key, crt);
    assert_string_equal(err, want);
    /* The certificate was read: a caller can still name its CN. */
    assert_string_equal(id.cn, "chair-01");
}

static void test_unreadable(void **state)
{
    char crt[256], key[256], err[1024], want[1024];
    tls_identity id;
    (void)state;

    assert_int_equal(tls_identity_load(at("missing.crt", crt), at("chair-01.key", key), &id, err,
                                       sizeof err), -1);
    snprintf(want, sizeof want, "cert_file %s: cannot read: No such file or directory; check the "
             "path and its permissions", crt);
    assert_string_equal(err, want);
    assert_int_equal(id.not_after, 0);

    assert_int_equal(tls_identity_load(at("chair-01.crt", crt), at("missing.key", key), &id, err,
                                       sizeof err), -1);
    snprintf(want, sizeof want, "key_file %s: cannot read: No such file or directory; check the "
             "path and its permissions", key);
    assert_string_equal(err, want);

    assert_int_equal(tls_identity_load(at("garbage.crt", crt), at("chair-01.key", key), &id, err,
                                       sizeof err), -1);
    snprintf(want, sizeof want, "cert_file %s: not a PEM certificate (", crt);
    assert_memory_equal(err, want, strlen(want));

    /* A certificate given as the key. */
    assert_int_equal(tls_identity_load(at("chair-01.crt", crt), at("chair-02.crt", key), &id, err,
                                       sizeof err), -1);
    snprintf(want, sizeof want, "key_file %s: not an unencrypted PEM private key (", key);
    assert_memory_equal(err, want, strlen(want));

    assert_int_equal(tls_identity_check_issuer(NULL, at("garbage.crt", crt), err, sizeof err), -1);
    snprintf(want, sizeof want, "ca_file %s: not a PEM certificate (", crt);
    assert_memory_equal(err, want, strlen(want));
}

static void test_expired(void **state)
{
    char crt[256], key[256], err[1024], why[128], want[128];
    tls_identity id;
    (void)state;

    /* The pair itself is fine: only the dates are wrong. */
    if (tls_identity_load(at("expired.crt", crt), at("expired.key", key), &id, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(id.not_after < time(NULL));
    assert_true(tls_identity_expired(&id, time(NULL), why, sizeof why));
    snprintf(want, sizeof want, "expired on %s", id.not_after_text);
    assert_string_equal(why, want);
    /* And one whose validity has not begun is refused too, saying when. */
    tls_identity future = {.not_before = time(NULL) + 3600, .not_after = time(NULL) + 7200,
                           .not_before_text = "2099-01-01T00:00:00Z"};
    assert_true(tls_identity_expired(&future, time(NULL), why, sizeof why));
    assert_string_equal(why, "is not valid before 2099-01-01T00:00:00Z");
    /* Dates aside, it was issued by the fleet's CA. */
    if (tls_identity_check_issuer(crt, at("ca.crt", key), err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void test_other_ca(void **state)
{
    char crt[256], ca[256], err[1024], want[1024];
    (void)state;

    assert_int_equal(tls_identity_check_issuer(at("foreign.crt", crt), at("ca.crt", ca), err,
                                               sizeof err), -1);
    snprintf(want, sizeof want, "cert_file %s was not issued by ca_file %s; use the ca.crt and "
             "certificates of the same smpctl pki directory", crt, ca);
    assert_string_equal(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_cn_mismatch),
        cmocka_unit_test(test_key_mismatch),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_other_ca),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
