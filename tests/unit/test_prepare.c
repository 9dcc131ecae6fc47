/* The committer's preparing stage (collector/prepare.c) and its hand-over
 * queue (inbox_put, collector/inbox.c):
 * - a valid message: its records, their canonical bytes and hashes exactly
 *   as record_canonical / record_sha256_hex make them, in a block sized
 *   for the message, not for 64 records, whether the payload came in
 *   canonical form (its bytes taken as they are) or not;
 * - one bad record among good ones: the good stored, the bad to be
 *   quarantined alone with its seq and reason, its body inside the payload;
 * - a message refused whole: the reason names the field;
 * - inbox_put: several messages in one take, weights counted against the
 *   byte bound (a put waits for room), and a closed queue frees what it
 *   cannot take. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "inbox.h"
#include "prepare.h"

#define HASH_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* A session.start record of dev-1 at seq, chained to HASH_A (prepare does
 * not check links: the store does). */
static int session_start(char *out, size_t cap, int seq, const char *extra)
{
    return snprintf(out, cap,
                    "{\"type\":\"session.start\",\"seq\":%d,\"ts\":\"2026-03-01T09:15:0%d.250Z\","
                    "\"prev\":\"" HASH_A "\",\"session_id\":\"dev-1-S%d\",\"operator_id\":\"op-2\","
                    "\"client_ref\":\"c-1\",\"treatment_no\":1"
                    "%s}",
                    seq, seq % 10, seq, extra);
}

/* {"v":1,"device":"dev-1","records":[r1,r2,r3]}, record i + 1 given extra. */
static char *three_records(const char *extra[3])
{
    char rec[3][512];
    char *out = malloc(2048);
    for (int i = 0; i < 3; i++)
        session_start(rec[i], sizeof rec[i], i + 1, extra[i]);
    snprintf(out, 2048, "{\"v\":1,\"device\":\"dev-1\",\"records\":[%s,%s,%s]}", rec[0], rec[1],
             rec[2]);
    return out;
}

/* Prepares payload (three valid records) and checks what a valid message
 * gives; the result is the caller's. */
static prepared_msg *check_valid_message(prepare_scratch *sc, const char *payload)
{
    char canon[RECORD_CANON_MAX], hex[RECORD_HASH_HEX];

    prepared_msg *m = prepare_message(sc, "dev-1", payload, strlen(payload));
    assert_non_null(m);
    assert_int_equal(m->rc, 0);
    assert_int_equal(m->count, 3);
    assert_int_equal(m->nrejects, 0);
    for (size_t i = 0; i < 3; i++) {
        int len = record_canonical(m->records[i], canon, sizeof canon);
        assert_true(len > 0);
        assert_int_equal(m->records[i]->seq, i + 1);
        assert_int_equal(m->canon_len[i], (size_t)len);
        assert_string_equal(m->canon[i], canon);
        record_sha256_hex(canon, (size_t)len, hex);
        assert_string_equal(m->hash[i], hex);
        assert_string_equal(record_get_str(m->records[i], "operator_id"), "op-2");
    }
    /* A record copied only as far as it is used is the whole record to
     * its readers (under ASan, a read past it fails here). */
    for (size_t i = 0; i < 3; i++) {
        size_t size = record_used_size(m->records[i]);
        record *own = malloc(size);
        assert_non_null(own);
        memcpy(own, m->records[i], size);
        assert_int_equal(record_canonical(own, canon, sizeof canon), (int)m->canon_len[i]);
        assert_string_equal(canon, m->canon[i]);
        assert_string_equal(record_get_str(own, "operator_id"), "op-2");
        assert_null(record_get_str(own, "no_such_field"));
        free(own);
    }
    /* Three records' worth as far as they are used, not the 64 of the
     * scratch nor their unused field slots. */
    size_t used = 0;
    for (size_t i = 0; i < 3; i++)
        used += record_used_size(m->records[i]);
    assert_true(used < sizeof(record));
    assert_true(m->bytes >= used);
    assert_true(m->bytes < 2 * sizeof(record));
    return m;
}

/* Written with its keys unsorted, the message goes through the JSON parser
 * and its records are written out canonically; written as an agent writes
 * it, each record's canonical bytes are its own bytes in the payload. */
static void test_valid_message_is_canonical_and_compact(void **state)
{
    prepare_scratch *sc = prepare_scratch_new();
    char *payload = three_records((const char *[3]){"", "", ""}), canonical[2048];
    (void)state;

    assert_non_null(sc);
    prepared_msg *m = check_valid_message(sc, payload);
    for (size_t i = 0; i < 3; i++)
        assert_null(strstr(payload, m->canon[i]));
    assert_true(message_encode_batch("dev-1", m->canon, m->canon_len, 3, canonical,
                                     sizeof canonical) > 0);
    prepared_msg *again = check_valid_message(sc, canonical);
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(strstr(canonical, again->canon[i]));
        assert_string_equal(again->canon[i], m->canon[i]);
        assert_string_equal(again->hash[i], m->hash[i]);
    }
    prepared_free(again);
    prepared_free(m);
    free(payload);
    prepare_scratch_free(sc);
}

static void test_bad_record_is_set_apart(void **state)
{
    prepare_scratch *sc = prepare_scratch_new();
    char *payload = three_records((const char *[3]){"", ",\"colour\":\"red\"", ""});
    (void)state;

    prepared_msg *m = prepare_message(sc, "dev-1", payload, strlen(payload));
    assert_non_null(m);
    assert_int_equal(m->rc, 0);
    assert_int_equal(m->count, 2);
    assert_int_equal(m->records[0]->seq, 1);
    assert_int_equal(m->records[1]->seq, 3);
    assert_int_equal(m->nrejects, 1);
    assert_int_equal(m->rejects[0].seq, 2);
    assert_string_equal(m->rejects[0].prev, HASH_A);
    assert_non_null(strstr(m->rejects[0].reason, "records[1].colour"));
    /* The body is the record's bytes in the payload itself. */
    assert_true(m->rejects[0].body > payload && m->rejects[0].body < payload + strlen(payload));
    assert_memory_equal(m->rejects[0].body, "{\"type\":\"session.start\",\"seq\":2", 31);
    prepared_free(m);
    free(payload);
    prepare_scratch_free(sc);
}

static void test_refused_whole_names_the_field(void **state)
{
    prepare_scratch *sc = prepare_scratch_new();
    char *payload = three_records((const char *[3]){"", "", ""});
    (void)state;

    /* The topic says dev-2: the payload is not its records. */
    prepared_msg *m = prepare_message(sc, "dev-2", payload, strlen(payload));
    assert_non_null(m);
    assert_int_equal(m->rc, -1);
    assert_int_equal(m->count, 0);
    assert_string_equal(m->err.field, "device");
    prepared_free(m);

    m = prepare_message(sc, "dev-1", "{\"v\":1,", 7);
    assert_non_null(m);
    assert_int_equal(m->rc, -1);
    assert_int_equal(m->err.code, REASON_NOT_JSON);
    prepared_free(m);
    free(payload);
    prepare_scratch_free(sc);
}

static inbox_msg msg_of(const char *topic, size_t weight)
{
    return (inbox_msg){strdup(topic), strdup("x"), 1, NULL, weight};
}

static void test_put_hands_over_together(void **state)
{
    inbox *q = inbox_new(8, 1000);
    inbox_msg m[3] = {msg_of("t/1", 10), msg_of("t/2", 10), msg_of("t/3", 10)};
    inbox_msg out[8];
    (void)state;

    assert_int_equal(inbox_put(q, m, 3), 0);
    assert_null(m[0].topic);   /* moved in */
    assert_int_equal(inbox_take(q, out, 8), 3);
    assert_string_equal(out[0].topic, "t/1");
    assert_string_equal(out[2].topic, "t/3");
    for (int i = 0; i < 3; i++)
        inbox_msg_free(&out[i]);
    inbox_free(q);
}

typedef struct putter {
    inbox *q;
    inbox_msg m;
    atomic_int done;
} putter;

static void *put_one(void *arg)
{
    putter *p = arg;
    inbox_put(p->q, &p->m, 1);
    atomic_store(&p->done, 1);
    return NULL;
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* The bound counts weights, not payload lengths: a put that would pass it
 * waits until a take makes room. */
static void test_put_waits_for_room_by_weight(void **state)
{
    inbox *q = inbox_new(8, 100);
    inbox_msg first = msg_of("t/big", 90), out[8];
    putter p = {q, msg_of("t/next", 20), 0};
    pthread_t th;
    (void)state;

    assert_int_equal(inbox_put(q, &first, 1), 0);
    assert_int_equal(pthread_create(&th, NULL, put_one, &p), 0);
    sleep_ms(100);
    assert_int_equal(atomic_load(&p.done), 0);   /* 90 + 20 > 100: waiting */
    assert_int_equal(inbox_take(q, out, 8), 1);
    inbox_msg_free(&out[0]);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&p.done), 1);
    assert_int_equal(inbox_take(q, out, 8), 1);
    assert_string_equal(out[0].topic, "t/next");
    inbox_msg_free(&out[0]);
    inbox_free(q);
}

/* Closed: nothing goes in, and what was handed over is freed (ASan's leak
 * check would name it otherwise). */
static void test_put_into_closed_frees(void **state)
{
    inbox *q = inbox_new(8, 1000);
    inbox_msg m[2] = {msg_of("t/1", 1), msg_of("t/2", 1)};
    inbox_msg out[8];
    (void)state;

    inbox_close(q);
    assert_int_equal(inbox_put(q, m, 2), -1);
    assert_null(m[0].topic);
    assert_null(m[1].topic);
    assert_int_equal(inbox_take(q, out, 8), 0);
    inbox_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_message_is_canonical_and_compact),
        cmocka_unit_test(test_bad_record_is_set_apart),
        cmocka_unit_test(test_refused_whole_names_the_field),
        cmocka_unit_test(test_put_hands_over_together),
        cmocka_unit_test(test_put_waits_for_room_by_weight),
        cmocka_unit_test(test_put_into_closed_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
