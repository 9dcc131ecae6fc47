/* test_agent: the agent-side pieces around the journal — refusal accounting
 * with its rate-limited log (agent/intake.c, time injected), the event_id
 * syntax and window (agent/event_ids.c), and the config check that
 * segment_kb fits in journal_max_mb (agent/agent_config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "event_ids.h"
#include "intake.h"
#include "log.h"

/* ---- intake ---------------------------------------------------------------- */

static void test_intake_rate_limited(void **state)
{
    (void)state;
    intake in;
    int64_t t = 1000000;
    int lines = 0;

    intake_init(&in);
    assert_string_equal(intake_state_name(in.state), "accepting");
    /* the first refusal of an episode is logged at once */
    assert_true(intake_refused(&in, INTAKE_DISK_FULL, "No space left on device", true, t));
    /* a producer retrying every 10 ms for 59 s: no more lines */
    for (int i = 0; i < 5900; i++)
        lines += intake_refused(&in, INTAKE_DISK_FULL, "No space left on device", true, t + 10 * i);
    assert_int_equal(lines, 0);
    assert_int_equal(in.refused, 5901);
    assert_string_equal(intake_state_name(in.state), "disk-full");
    assert_string_equal(in.reason, "No space left on device");
    /* a minute after the first line: one summary line */
    assert_true(intake_refused(&in, INTAKE_DISK_FULL, "No space left on device", true,
                               t + INTAKE_LOG_EVERY_MS));
    assert_int_equal(in.unlogged, 0);
    /* another cause is another episode: logged at once */
    assert_true(intake_refused(&in, INTAKE_JOURNAL_FULL, "1048576 bytes unacked", true,
                               t + INTAKE_LOG_EVERY_MS + 1));
    assert_string_equal(intake_state_name(in.state), "journal-full");
    /* the simulator waits without counting refusals */
    intake_refused(&in, INTAKE_JOURNAL_FULL, "1048576 bytes unacked", false, t + INTAKE_LOG_EVERY_MS + 2);
    assert_int_equal(in.refused, 5903);
    intake_accepted(&in, t + INTAKE_LOG_EVERY_MS + 3);
    assert_string_equal(intake_state_name(in.state), "accepting");
    assert_string_equal(in.reason, "");
    assert_int_equal(in.refused, 5903);   /* the counter is a total */
    /* after accepting again, a new refusal is logged at once */
    assert_true(intake_refused(&in, INTAKE_JOURNAL_FULL, "x", true, t + INTAKE_LOG_EVERY_MS + 4));
}

/* ---- event_id --------------------------------------------------------------- */

static void test_event_id_syntax(void **state)
{
    (void)state;
    char max[EVENT_ID_MAX + 2];

    assert_true(event_id_valid("a"));
    assert_true(event_id_valid("scanner-7:0001"));
    assert_true(event_id_valid("A.b_c:d-9"));
    assert_false(event_id_valid(""));
    assert_false(event_id_valid("has space"));
    assert_false(event_id_valid("slash/no"));
    assert_false(event_id_valid("quote\""));
    assert_false(event_id_valid("\xc3\xa9"));
    memset(max, 'x', EVENT_ID_MAX);
    max[EVENT_ID_MAX] = '\0';
    assert_true(event_id_valid(max));
    max[EVENT_ID_MAX] = 'x';
    max[EVENT_ID_MAX + 1] = '\0';
    assert_false(event_id_valid(max));
}

static void test_id_window(void **state)
{
    (void)state;
    id_window *w = id_window_new(4);
    char id[16];
    uint64_t seq;
    const char *got;

    assert_non_null(w);
    assert_int_equal(id_window_find(w, "a"), 0);
    for (uint64_t s = 1; s <= 6; s++) {
        snprintf(id, sizeof id, "id-%d", (int)s);
        id_window_add(w, s * 10, id);
    }
    assert_int_equal(id_window_count(w), 4);
    assert_int_equal(id_window_find(w, "id-1"), 0);     /* forgotten, oldest first */
    assert_int_equal(id_window_find(w, "id-2"), 0);
    assert_int_equal(id_window_find(w, "id-3"), 30);
    assert_int_equal(id_window_find(w, "id-6"), 60);
    id_window_get(w, 0, &seq, &got);
    assert_int_equal(seq, 30);
    assert_string_equal(got, "id-3");
    id_window_get(w, 3, &seq, &got);
    assert_int_equal(seq, 60);
    /* an id forgotten and used again maps to its new seq */
    id_window_add(w, 70, "id-1");
    assert_int_equal(id_window_find(w, "id-1"), 70);
    assert_int_equal(id_window_find(w, "id-3"), 0);
    id_window_free(w);
}

/* ---- config: segment_kb must fit in journal_max_mb ---------------------------- */

static int load_conf(const char *extra, char *err, size_t errlen)
{
    char dir[] = "/tmp/test_agent.XXXXXX", path[64];
    agent_config *cfg = calloc(1, sizeof *cfg);
    FILE *f;

    assert_non_null(cfg);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    assert_non_null(f = fopen(path, "w"));
    fprintf(f, "ca_file = ca.crt\ncert_file = d.crt\nkey_file = d.key\ndevice_id = chair-01\n"
               "data_dir = data\n%s", extra);
    fclose(f);
    int rc = agent_config_load(path, cfg, err, errlen);
    unlink(path);
    rmdir(dir);
    free(cfg);
    return rc;
}

static void test_config_segment_fits_limit(void **state)
{
    (void)state;
    char err[600];

    assert_int_equal(load_conf("", err, sizeof err), 0);
    assert_int_equal(load_conf("journal_max_mb = 4\n", err, sizeof err), 0);  /* 4096 KiB */
    assert_int_equal(load_conf("journal_max_mb = 1\nsegment_kb = 1024\n", err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(load_conf("journal_max_mb = 1\n", err, sizeof err), -1);
    assert_non_null(strstr(err, "segment_kb: 4096 KiB is larger than journal_max_mb (1 MiB)"));
    assert_non_null(strstr(err, "at most 1024"));
    err[0] = '\0';
    assert_int_equal(load_conf("journal_max_mb = 1\nsegment_kb = 2048\n", err, sizeof err), -1);
    assert_non_null(strstr(err, "agent.conf:7: segment_kb"));
}

int main(void)
{
    log_set_level(LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intake_rate_limited),
        cmocka_unit_test(test_event_id_syntax),
        cmocka_unit_test(test_id_window),
        cmocka_unit_test(test_config_segment_fits_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
