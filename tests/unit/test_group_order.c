/* The order a committing thread stores a group in where locks are shared
 * (collector/group_order.c):
 * - the devices that log a sterilization cycle or test come first, a
 *   device at a time; then what takes no clinic lock; then, from each
 *   device's first grip on, what takes it shared;
 * - each device's own messages keep their order through all of it;
 * - a group without any clinic's record keeps arrival order;
 * - where transactions are cut: around each device's GROUP_WHOLE messages,
 *   never inside the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "group_order.h"
#include "prepare.h"
#include "record.h"

#define MSGS_MAX 16

/* A message of device with one record of type, tagged with its arrival
 * index in len (group_order never reads payloads). */
typedef struct fake {
    char topic[64];
    record rec;
    const record *recs[1];
    prepared_msg pre;
} fake;

static void fake_msg(fake *f, inbox_msg *m, const char *device, record_type type, size_t arrival)
{
    snprintf(f->topic, sizeof f->topic, "smp/v1/dev/%s/events", device);
    record_init(&f->rec, type);
    f->recs[0] = &f->rec;
    f->pre = (prepared_msg){.count = 1, .records = f->recs};
    *m = (inbox_msg){.topic = f->topic, .len = arrival, .prepared = &f->pre};
}

/* The arrival indexes of msgs[0..n), as "0 3 1 ...". */
static void arrivals(const inbox_msg *msgs, size_t n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%zu", i ? " " : "", msgs[i].len);
}

static void stages(const group_stage *st, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = st[i] == GROUP_WHOLE ? 'W' : st[i] == GROUP_FREE ? 'F' : 'S';
    out[n] = '\0';
}

typedef struct arrival {
    const char *device;
    record_type type;
} arrival;

/* Orders the messages of in[0..n) (arrival i tagged i) and compares the
 * new order and its stages with want_order and want_stages. */
static void check_order(const arrival *in, size_t n, const char *want_order,
                        const char *want_stages)
{
    fake f[MSGS_MAX];
    inbox_msg msgs[MSGS_MAX];
    group_stage st[MSGS_MAX];
    char order[128], got[MSGS_MAX + 1];

    assert_true(n <= MSGS_MAX);
    for (size_t i = 0; i < n; i++)
        fake_msg(&f[i], &msgs[i], in[i].device, in[i].type, i);
    group_order(msgs, n, st);
    arrivals(msgs, n, order, sizeof order);
    stages(st, n, got);
    assert_string_equal(order, want_order);
    assert_string_equal(got, want_stages);
}

static void test_stages_and_order(void **state)
{
    static const arrival in[] = {
        {"m-1", RT_USAGE_COUNTERS},        /* 0: free */
        {"m-2", RT_GRIP_ASSIGN},           /* 1: m-2 shared from here */
        {"ac-1", RT_USAGE_COUNTERS},       /* 2: ac-1 logs a cycle below: whole */
        {"m-1", RT_GRIP_ASSIGN},           /* 3: m-1 shared from here */
        {"m-2", RT_USAGE_COUNTERS},        /* 4: after m-2's grip: shared */
        {"ac-1", RT_STERILIZATION_CYCLE},  /* 5 */
        {"m-3", RT_SESSION_START},         /* 6: free */
        {"m-1", RT_USAGE_COUNTERS},        /* 7: shared */
        {"ac-2", RT_STERILIZATION_TEST},   /* 8: whole, after ac-1's */
        {"m-3", RT_CARTRIDGE_INSERT},      /* 9: free */
        {"ac-1", RT_GRIP_ASSIGN},          /* 10: whole (its device logs a cycle) */
    };
    (void)state;
    check_order(in, sizeof in / sizeof in[0], "2 5 10 8 0 6 9 1 3 4 7", "WWWWFFFSSSS");
}

static void test_no_clinic_records_keeps_arrival(void **state)
{
    static const arrival in[] = {
        {"m-2", RT_USAGE_COUNTERS}, {"m-1", RT_SESSION_START}, {"m-2", RT_CARTRIDGE_INSERT},
        {"m-3", RT_USAGE_COUNTERS}, {"m-1", RT_SESSION_END},
    };
    (void)state;
    check_order(in, sizeof in / sizeof in[0], "0 1 2 3 4", "FFFFF");
}

/* An unprepared message (a status, or prepare ran out of memory) takes no
 * lock of its own but keeps its place behind its device's earlier ones. */
static void test_unprepared_follows_its_device(void **state)
{
    fake f[3];
    inbox_msg msgs[3];
    group_stage st[3];
    char order[64], got[4];
    (void)state;

    fake_msg(&f[0], &msgs[0], "m-1", RT_GRIP_ASSIGN, 0);
    fake_msg(&f[1], &msgs[1], "m-2", RT_USAGE_COUNTERS, 1);
    fake_msg(&f[2], &msgs[2], "m-1", RT_USAGE_COUNTERS, 2);
    msgs[2].prepared = NULL;
    snprintf(f[2].topic, sizeof f[2].topic, "smp/v1/dev/m-1/status");
    group_order(msgs, 3, st);
    arrivals(msgs, 3, order, sizeof order);
    stages(st, 3, got);
    assert_string_equal(order, "1 0 2");
    assert_string_equal(got, "FSS");
}

static void test_cuts(void **state)
{
    fake f[6];
    inbox_msg msgs[6];
    group_stage st[6] = {GROUP_WHOLE, GROUP_WHOLE, GROUP_WHOLE, GROUP_FREE, GROUP_SHARED,
                         GROUP_SHARED};
    (void)state;

    fake_msg(&f[0], &msgs[0], "ac-1", RT_STERILIZATION_CYCLE, 0);
    fake_msg(&f[1], &msgs[1], "ac-1", RT_USAGE_COUNTERS, 1);
    fake_msg(&f[2], &msgs[2], "ac-2", RT_STERILIZATION_TEST, 2);
    fake_msg(&f[3], &msgs[3], "m-1", RT_USAGE_COUNTERS, 3);
    fake_msg(&f[4], &msgs[4], "m-1", RT_GRIP_ASSIGN, 4);
    fake_msg(&f[5], &msgs[5], "m-2", RT_GRIP_ASSIGN, 5);
    assert_false(group_order_cut(msgs, st, 0, 0));  /* a transaction's first */
    assert_false(group_order_cut(msgs, st, 0, 1));  /* the same device, whole */
    assert_true(group_order_cut(msgs, st, 0, 2));   /* another device, whole */
    assert_true(group_order_cut(msgs, st, 2, 3));   /* whole to free */
    assert_false(group_order_cut(msgs, st, 3, 4));  /* free to shared: one transaction */
    assert_false(group_order_cut(msgs, st, 3, 5));
    /* Messages that take no clinic lock first, then whole: cut. */
    group_stage late[2] = {GROUP_FREE, GROUP_WHOLE};
    assert_true(group_order_cut(msgs + 3, late, 0, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stages_and_order),
        cmocka_unit_test(test_no_clinic_records_keeps_arrival),
        cmocka_unit_test(test_unprepared_follows_its_device),
        cmocka_unit_test(test_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
