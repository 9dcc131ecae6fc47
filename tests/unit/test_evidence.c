/* test_evidence: the bounded JSON writer for alert evidence
 * (collector/evidence.c): escaping, nesting, cutting lists to fit, and a
 * valid object whatever does not fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "evidence.h"

static void test_values_and_escaping(void **state)
{
    char buf[256];
    evidence e;
    (void)state;

    ev_begin(&e, buf, sizeof buf);
    ev_str(&e, "id", "a\"b\\c\x01");
    ev_int(&e, "seq", -42);
    ev_dec1(&e, "temp", 1335);
    ev_dec1(&e, "cold", -5);
    ev_bool(&e, "ok", false);
    ev_null(&e, "lot");
    ev_open_array(&e, "list");
    ev_str(&e, NULL, "x");
    ev_open_object(&e, NULL);
    ev_int(&e, "n", 1);
    ev_close(&e);
    ev_close(&e);
    assert_int_equal(ev_end(&e), 0);
    assert_string_equal(buf, "{\"id\":\"a\\\"b\\\\c\\u0001\",\"seq\":-42,\"temp\":133.5,\"cold\":-0.5,"
                             "\"ok\":false,\"lot\":null,\"list\":[\"x\",{\"n\":1}]}");
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "a\"b\\c\x01");
    cJSON_Delete(j);
}

/* Items added while they fit, then rewound: the list ends cleanly. */
static void test_list_cut_to_fit(void **state)
{
    char buf[200];
    evidence e;
    int listed = 0;
    (void)state;

    ev_begin(&e, buf, sizeof buf);
    ev_int(&e, "total", 100);
    ev_open_array(&e, "items");
    for (int i = 0; i < 100; i++) {
        ev_pos at = ev_mark(&e);
        ev_open_object(&e, NULL);
        ev_str(&e, "name", "item-with-a-name");
        ev_close(&e);
        if (!ev_fits(&e, 20)) {
            ev_rewind(&e, at);
            break;
        }
        listed++;
    }
    ev_close(&e);
    ev_int(&e, "listed", listed);
    assert_int_equal(ev_end(&e), 0);
    assert_true(listed > 2 && listed < 10);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), listed);
    assert_int_equal(cJSON_GetObjectItem(j, "listed")->valueint, listed);
    cJSON_Delete(j);
}

/* What does not fit is dropped whole, and the object says so. */
static void test_overflow_keeps_valid_json(void **state)
{
    char buf[80], big[200];
    evidence e;
    (void)state;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ev_begin(&e, buf, sizeof buf);
    ev_int(&e, "seq", 7);
    ev_open_object(&e, "inner");
    ev_str(&e, "a", "short");
    ev_str(&e, "b", big);
    ev_close(&e);
    ev_str(&e, "after", "y");
    assert_int_equal(ev_end(&e), -1);
    assert_string_equal(buf, "{\"seq\":7,\"truncated\":true}");

    ev_begin(&e, buf, sizeof buf);
    ev_str(&e, "b", big);
    assert_int_equal(ev_end(&e), -1);
    assert_string_equal(buf, "{\"truncated\":true}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_escaping),
        cmocka_unit_test(test_list_cut_to_fit),
        cmocka_unit_test(test_overflow_keeps_valid_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
