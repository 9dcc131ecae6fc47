/* test_json_arena: cJSON's allocations inside a json_arena scope come from
 * the arena (the same memory again in the next scope) and give the same
 * values as malloc'd ones; a tree bigger than one chunk parses; outside a
 * scope, and on another thread during one, cJSON allocates and frees with
 * malloc as before (ASan would report a free of arena memory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_arena.h"
#include "jsontext.h"

static const char doc[] = "{\"v\":1,\"device\":\"m-01\",\"records\":[{\"seq\":7,\"ts\":\"t\"}]}";

static void check_doc(const cJSON *root)
{
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "device")->valuestring, "m-01");
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "records"), 0);
    /* jsontext_parse leaves a number's source text in valuestring. */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "seq")->valuestring, "7");
}

static void test_scope_reuses_its_memory(void **state)
{
    json_arena *a = json_arena_new();
    cJSON *first, *again;
    (void)state;

    assert_non_null(a);
    json_arena_begin(a);
    first = jsontext_parse(doc, strlen(doc));
    check_doc(first);
    cJSON_Delete(first);
    /* Inside the scope a delete gives nothing back (malloc would hand the
     * freed node out again here). */
    again = jsontext_parse(doc, strlen(doc));
    check_doc(again);
    assert_ptr_not_equal(again, first);
    cJSON_Delete(again);
    json_arena_end(a);

    json_arena_begin(a);
    again = jsontext_parse(doc, strlen(doc));
    check_doc(again);
    /* The next scope starts at the same place: the first tree's memory. */
    assert_ptr_equal(again, first);
    cJSON_Delete(again);
    json_arena_end(a);
    json_arena_free(a);
}

/* A document whose tree needs several of the arena's chunks. */
static void test_big_tree(void **state)
{
    enum { N = 40000 };
    size_t cap = N * 16 + 16, len = 0;
    char *text = malloc(cap);
    json_arena *a = json_arena_new();
    (void)state;

    assert_non_null(text);
    assert_non_null(a);
    text[len++] = '[';
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\"s%d\"", i ? "," : "", i);
    text[len++] = ']';
    for (int round = 0; round < 2; round++) {
        json_arena_begin(a);
        cJSON *root = jsontext_parse(text, len);
        assert_non_null(root);
        assert_int_equal(cJSON_GetArraySize(root), N);
        assert_string_equal(cJSON_GetArrayItem(root, N - 1)->valuestring, "s39999");
        cJSON_Delete(root);
        json_arena_end(a);
    }
    json_arena_free(a);
    free(text);
}

static void *parse_elsewhere(void *arg)
{
    cJSON *root = jsontext_parse(doc, strlen(doc));
    (void)arg;
    check_doc(root);
    char *printed = cJSON_PrintUnformatted(root);
    assert_non_null(printed);
    cJSON_free(printed);
    cJSON_Delete(root);
    return NULL;
}

/* Outside a scope and on other threads: malloc and free. A tree made
 * outside a scope may be freed inside one. */
static void test_other_threads_and_outside(void **state)
{
    json_arena *a = json_arena_new();
    cJSON *outside = jsontext_parse(doc, strlen(doc));
    pthread_t t;
    (void)state;

    assert_non_null(a);
    check_doc(outside);
    json_arena_begin(a);
    assert_int_equal(pthread_create(&t, NULL, parse_elsewhere, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    cJSON_Delete(outside);
    json_arena_end(a);
    parse_elsewhere(NULL);
    json_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_reuses_its_memory),
        cmocka_unit_test(test_big_tree),
        cmocka_unit_test(test_other_threads_and_outside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
