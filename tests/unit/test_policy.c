/* test_policy: the compliance policy file (collector/policy.c): defaults of
 * docs/rules.md, profiles, decimals, and errors that name file, line and
 * setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_policy.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/policy.conf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int load(const fixture *f, const char *text, policy *p, char *err, size_t cap)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    err[0] = '\0';
    return policy_load(f->path, p, err, cap);
}

static void test_defaults_are_design_section_6(void **state)
{
    policy p;
    (void)state;

    assert_int_equal(policy_defaults(&p), 0);
    assert_string_equal(p.profile, "cdc");
    assert_int_equal(p.cartridge_max_run_s, 3600);
    assert_int_equal(p.cartridge_max_strokes, 400000);
    assert_int_equal(p.program[POLICY_GRAVITY_121].min_temp_dc, 1210);
    assert_int_equal(p.program[POLICY_GRAVITY_121].min_exposure_s, 1800);
    assert_int_equal(p.program[POLICY_GRAVITY_132].min_temp_dc, 1320);
    assert_int_equal(p.program[POLICY_GRAVITY_132].min_exposure_s, 900);
    assert_int_equal(p.program[POLICY_PREVAC_132].min_temp_dc, 1320);
    assert_int_equal(p.program[POLICY_PREVAC_132].min_exposure_s, 240);
    assert_int_equal(p.program[POLICY_PREVAC_134].min_temp_dc, 1340);
    assert_int_equal(p.program[POLICY_PREVAC_134].min_exposure_s, 180);
    assert_int_equal(p.spore_interval_days, 7);
    assert_int_equal(p.spore_critical_days, 14);
    assert_int_equal(p.silent_after_s, 7200);
    assert_int_equal(p.motor_service_hours, 500);
    assert_int_equal(p.rules_timer_s, 60);
    assert_int_equal(p.clock_skew_s, 300);
    assert_int_equal(p.gap_grace_s, 600);

    const policy_program *prog = policy_program_get(&p, "prevac_134");
    assert_non_null(prog);
    assert_int_equal(prog->min_exposure_s, 180);
    assert_null(policy_program_get(&p, "flash_135"));
    assert_string_equal(policy_program_name(POLICY_GRAVITY_132), "gravity_132");
}

static void test_profiles_and_overrides(void **state)
{
    fixture *f = *state;
    char err[512];
    policy p;

    assert_int_equal(load(f, "profile = bodyart-monthly\n", &p, err, sizeof err), 0);
    assert_int_equal(p.spore_interval_days, 30);
    assert_int_equal(p.spore_critical_days, 60);

    assert_int_equal(load(f, "profile = bodyart-monthly\nspore_interval_days = 21\n", &p, err, sizeof err), 0);
    assert_int_equal(p.spore_interval_days, 21);
    assert_int_equal(p.spore_critical_days, 42);

    assert_int_equal(load(f,
                          "# a clinic's own numbers\n"
                          "spore_critical_days = 10\n"
                          "prevac_134_min_temp_c = 135.5\n"
                          "gravity_121_min_temp_c = 121\n"
                          "cartridge_max_strokes = 300000\n"
                          "gap_grace_s = 0\n",
                          &p, err, sizeof err),
                     0);
    assert_int_equal(p.spore_interval_days, 7);
    assert_int_equal(p.spore_critical_days, 10);
    assert_int_equal(p.program[POLICY_PREVAC_134].min_temp_dc, 1355);
    assert_int_equal(p.program[POLICY_GRAVITY_121].min_temp_dc, 1210);
    assert_int_equal(p.cartridge_max_strokes, 300000);
    assert_int_equal(p.gap_grace_s, 0);
}

typedef struct bad_policy {
    const char *text;
    const char *suffix;   /* the error after the path */
} bad_policy;

static const bad_policy bad[] = {
    {"profile = cdc\nspore_intervall_days = 7\n", ":2: unknown setting 'spore_intervall_days'"},
    {"prevac_134_min_temp_c = 134.55\n",
     ":1: prevac_134_min_temp_c: must be a number 0.0..200.0 with at most one decimal place "
     "(R4: lowest exposure temperature of prevac_134)"},
    {"prevac_134_min_temp_c = 1e2\n",
     ":1: prevac_134_min_temp_c: must be a number 0.0..200.0 with at most one decimal place "
     "(R4: lowest exposure temperature of prevac_134)"},
    {"silent_after_s = 10\n",
     ":1: silent_after_s: must be an integer 60..31536000 (R8: silence during an open session that "
     "raises an alert)"},
    {"# jurisdiction\n\nprofile = weekly\n",
     ":3: profile: 'weekly' is not a profile (use cdc or bodyart-monthly)"},
    {"spore_interval_days = 30\nspore_critical_days = 20\n",
     ":2: spore_critical_days: 20 is less than spore_interval_days (30); the critical escalation "
     "must come at or after the warning"},
    {"rules_timer_s = 60\nrules_timer_s = 30\n", ":2: rules_timer_s set twice"},
    {"settle_s = 86401\n",
     ":1: settle_s: must be an integer 0..86400 (R5: how long a grip waits for its load's cycle "
     "from another device before it is judged)"},
    {"session_gap_s = 59\n",
     ":1: session_gap_s: must be an integer 60..86400 (R8: device-time gap between a session's "
     "records that flags the session)"},
};

static void test_errors_name_file_line_setting(void **state)
{
    fixture *f = *state;
    int failures = 0;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512], want[512];
        policy p;
        int rc = load(f, bad[i].text, &p, err, sizeof err);
        snprintf(want, sizeof want, "%s%s", f->path, bad[i].suffix);
        if (rc != -1 || strcmp(err, want) != 0) {
            print_error("case %zu: rc=%d\n  got  '%s'\n  want '%s'\n", i, rc, err, want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_missing_file(void **state)
{
    fixture *f = *state;
    char err[512];
    policy p;

    unlink(f->path);
    assert_int_equal(policy_load(f->path, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "No such file or directory"));
}

/* The shipped example spells out exactly the built-in policy (unit tests
 * run in tests/unit). */
static void test_example_file_is_the_default(void **state)
{
    policy file, builtin;
    char err[512];
    (void)state;

    if (policy_load("../../collector/policy.example", &file, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(policy_defaults(&builtin), 0);
    assert_memory_equal(&file, &builtin, sizeof file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_design_section_6),
        cmocka_unit_test_setup_teardown(test_profiles_and_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_line_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test(test_example_file_is_the_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
