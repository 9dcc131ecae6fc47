/* test_chair_alerts: the agent's alerts at the chair — the alerts_socket
 * line encoding (agent/alert_line.c), the open-alert book fed by the
 * collector's retained device messages (agent/alert_book.c), the local
 * wear tracker with injected time (agent/wear.c), and the socket's replay
 * and dropping of a client that does not read (agent/alert_socket.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alert_book.h"
#include "alert_line.h"
#include "alert_socket.h"
#include "jsontext.h"
#include "log.h"
#include "record.h"
#include "wear.h"

/* ---- line encoding ------------------------------------------------------------ */

static void test_line_collector(void **state)
{
    (void)state;
    chair_alert a = {ALERT_SRC_COLLECTOR, 17, "R3", "maintenance", "wear:c-9",
                     "replace cartridge c-9: 130 s / 4000 strokes (limits 120 s / 5000)",
                     "2026-11-23T09:14:02.118Z"};
    char buf[ALERT_LINE_MAX];
    int n = alert_line_encode(&a, "raised", buf, sizeof buf);
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf,
                        "{\"v\":1,\"event\":\"raised\",\"source\":\"collector\",\"id\":17,\"rule\":\"R3\","
                        "\"severity\":\"maintenance\",\"cause\":\"wear:c-9\",\"message\":\"replace "
                        "cartridge c-9: 130 s / 4000 strokes (limits 120 s / 5000)\","
                        "\"at\":\"2026-11-23T09:14:02.118Z\"}\n");
}

static void test_line_agent_escaped(void **state)
{
    (void)state;
    /* A local warning has no id; text that could break the line is escaped. */
    chair_alert a = {ALERT_SRC_AGENT, 0, "R3", "maintenance", "wear:c%3A1", "line\nbreak \"q\"",
                     "2026-11-23T09:14:02.118Z"};
    char buf[ALERT_LINE_MAX], small[40];
    int n = alert_line_encode(&a, "cleared", buf, sizeof buf);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\"source\":\"agent\""));
    assert_null(strstr(buf, "\"id\""));
    assert_non_null(strstr(buf, "line\\nbreak \\\"q\\\""));
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
    assert_int_equal(alert_line_encode(&a, "cleared", small, sizeof small), -1);

    /* Every field at its longest, every byte a control character: fits. */
    memset(a.cause, 1, sizeof a.cause - 1);
    memset(a.message, 1, sizeof a.message - 1);
    memset(a.rule, 1, sizeof a.rule - 1);
    memset(a.severity, 1, sizeof a.severity - 1);
    a.id = 9007199254740991LL;
    a.source = ALERT_SRC_COLLECTOR;
    assert_true(alert_line_encode(&a, "withdrawn", buf, sizeof buf) > 0);
}

/* ---- the book ------------------------------------------------------------------ */

typedef struct lines {
    int n;
    char text[16][ALERT_LINE_MAX];
} lines;

static void collect(void *ctx, const char *event, const chair_alert *a)
{
    lines *l = ctx;
    if (l->n < 16)
        snprintf(l->text[l->n++], ALERT_LINE_MAX, "%s %s %lld %s %s", event,
                 alert_source_name(a->source), (long long)a->id, a->cause, a->at);
}

static int apply(alert_book *b, const char *msg, bool retained, lines *l)
{
    char err[160];
    l->n = 0;
    return alert_book_apply(b, msg, strlen(msg), retained, collect, l, err, sizeof err);
}

#define OPEN_R3(id, uid) \
    "{\"id\":" #id ",\"rule\":\"R3\",\"severity\":\"maintenance\",\"cause\":\"wear:" uid \
    "\",\"message\":\"replace\",\"at\":\"2026-01-01T00:00:00.000Z\"}"
#define MSG(event, id, uid, open, total) \
    "{\"v\":1,\"event\":\"" event "\",\"id\":" #id ",\"rule\":\"R3\",\"severity\":\"maintenance\"," \
    "\"device\":\"chair-01\",\"cause\":\"wear:" uid "\",\"message\":\"replace\"," \
    "\"at\":\"2026-01-02T00:00:00.000Z\",\"open\":[" open "],\"open_total\":" #total "}"

static void test_book_events_and_lists(void **state)
{
    (void)state;
    alert_book b;
    lines l;

    alert_book_init(&b);
    /* raised: one line; the same message again: none */
    assert_int_equal(apply(&b, MSG("raised", 1, "c-1", OPEN_R3(1, "c-1"), 1), false, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.text[0], "raised collector 1 wear:c-1 2026-01-02T00:00:00.000Z");
    assert_int_equal(apply(&b, MSG("raised", 1, "c-1", OPEN_R3(1, "c-1"), 1), false, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(b.n, 1);
    assert_non_null(alert_book_find(&b, ALERT_SRC_COLLECTOR, "R3", "wear:c-1"));

    /* a retained message: its event is old news, its list the truth — an
     * alert it lists is learned ("open"), one it no longer lists ended */
    assert_int_equal(apply(&b, MSG("cleared", 1, "c-1", OPEN_R3(2, "c-2"), 1), true, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.text[0], "open collector 2 wear:c-2 2026-01-01T00:00:00.000Z");
    assert_string_equal(l.text[1], "cleared collector 1 wear:c-1 2026-01-02T00:00:00.000Z");
    assert_int_equal(b.n, 1);

    /* cleared as it happens: its line, once */
    assert_int_equal(apply(&b, MSG("cleared", 2, "c-2", "", 0), false, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.text[0], "cleared collector 2 wear:c-2 2026-01-02T00:00:00.000Z");
    assert_int_equal(apply(&b, MSG("cleared", 2, "c-2", "", 0), false, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(b.n, 0);

    /* raised, but the list (read after a later commit) says it ended */
    assert_int_equal(apply(&b, MSG("raised", 3, "c-3", "", 0), false, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.text[0], "raised collector 3 wear:c-3 2026-01-02T00:00:00.000Z");
    assert_string_equal(l.text[1], "cleared collector 3 wear:c-3 2026-01-02T00:00:00.000Z");
    assert_int_equal(b.n, 0);
}

static void test_book_partial_list_and_locals(void **state)
{
    (void)state;
    alert_book b;
    lines l;
    chair_alert local = {ALERT_SRC_AGENT, 0, "R3", "maintenance", "wear:c-5", "local", "t"};

    alert_book_init(&b);
    alert_book_put_local(&b, &local);
    alert_book_put_local(&b, &local);
    assert_int_equal(b.n, 1);
    assert_int_equal(apply(&b, MSG("raised", 4, "c-4", OPEN_R3(4, "c-4"), 1), false, &l), 0);
    assert_int_equal(apply(&b, MSG("raised", 9, "c-9", OPEN_R3(9, "c-9") "," OPEN_R3(4, "c-4"), 2),
                           false, &l), 0);
    assert_int_equal(b.n, 3);
    /* Only the newest listed (2 of 5 open): id 4 may be open beyond the
     * list, so it stays; local warnings are never touched by the list. */
    assert_int_equal(apply(&b, MSG("raised", 9, "c-9", OPEN_R3(9, "c-9") "," OPEN_R3(8, "c-8"), 5),
                           false, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.text[0], "open collector 8 wear:c-8 2026-01-01T00:00:00.000Z");
    assert_int_equal(b.n, 4);
    assert_non_null(alert_book_find(&b, ALERT_SRC_COLLECTOR, "R3", "wear:c-4"));
    assert_non_null(alert_book_find(&b, ALERT_SRC_AGENT, "R3", "wear:c-5"));
    assert_null(alert_book_find(&b, ALERT_SRC_COLLECTOR, "R3", "wear:c-5"));
    alert_book_remove_local(&b, "R3", "wear:c-5");
    assert_int_equal(b.n, 3);

    /* Not such a message: refused, nothing changes. */
    assert_int_equal(apply(&b, "[]", false, &l), -1);
    assert_int_equal(apply(&b, "{\"v\":2}", false, &l), -1);
    assert_int_equal(apply(&b, "{\"v\":1,\"event\":\"raised\",\"id\":1}", false, &l), -1);
    assert_int_equal(b.n, 3);

    /* Full: the oldest collector alert is forgotten first. */
    char msg[4096];
    for (int id = 100; id < 100 + ALERT_BOOK_MAX; id++) {
        snprintf(msg, sizeof msg,
                 "{\"v\":1,\"event\":\"raised\",\"id\":%d,\"rule\":\"R1\",\"severity\":\"critical\","
                 "\"cause\":\"x%d\",\"message\":\"m\",\"at\":\"t\",\"open\":[],\"open_total\":999}",
                 id, id);
        apply(&b, msg, false, &l);
    }
    assert_int_equal(b.n, ALERT_BOOK_MAX);
    assert_null(alert_book_find(&b, ALERT_SRC_COLLECTOR, "R3", "wear:c-4"));
    assert_non_null(alert_book_find(&b, ALERT_SRC_COLLECTOR, "R1", "x163"));
}

/* ---- the local wear tracker (time injected) -------------------------------------- */

static record event(const char *json)
{
    record r;
    record_error err;
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    assert_int_equal(record_from_json(o, RECORD_EVENT, "", &r, &err), 0);
    cJSON_Delete(o);
    return r;
}

static wear_action observe(wear *w, const char *json, uint64_t seq, int64_t now, wear_note *n)
{
    record r = event(json);
    return wear_observe(w, &r, seq, now, n);
}

#define INSERT(uid) \
    "{\"type\":\"cartridge.insert\",\"cartridge_uid\":\"" uid "\",\"sku\":\"RL\",\"needles\":3," \
    "\"config\":\"RL\",\"lot\":\"L1\",\"expiry\":\"2099-01-01\",\"session_id\":\"S-1\"}"
#define REMOVE(uid) \
    "{\"type\":\"cartridge.remove\",\"cartridge_uid\":\"" uid "\",\"session_id\":\"S-1\",\"run_s\":1," \
    "\"strokes\":1,\"reason\":\"worn\"}"
#define COUNTERS(uid, run, strokes) \
    "{\"type\":\"usage.counters\",\"motor_s_total\":1,\"strokes_total\":1,\"cartridge_uid\":\"" uid \
    "\",\"cartridge_run_s\":" #run ",\"cartridge_strokes\":" #strokes "}"
#define COUNTERS_NO_UID(run, strokes) \
    "{\"type\":\"usage.counters\",\"motor_s_total\":1,\"strokes_total\":1,\"cartridge_run_s\":" #run \
    ",\"cartridge_strokes\":" #strokes "}"

static const wear_limits limits = {120, 5000, 2000};

static void test_wear_collector_reachable(void **state)
{
    (void)state;
    wear w;
    wear_note n;

    wear_init(&w, &limits);
    assert_int_equal(observe(&w, INSERT("c-1"), 10, 1000, &n), WEAR_NOTHING);
    assert_int_equal(observe(&w, COUNTERS("c-1", 120, 5000), 11, 1000, &n), WEAR_NOTHING);
    assert_false(w.over);  /* at the limit is not over it (as R3) */
    assert_int_equal(observe(&w, COUNTERS("c-1", 121, 10), 12, 1000, &n), WEAR_NOTHING);
    assert_true(w.over);
    /* connected, not yet waited: nothing; acked in time (collector judged
     * it): nothing, even long after */
    assert_int_equal(wear_tick(&w, 2999, true, 11, false, &n), WEAR_NOTHING);
    assert_int_equal(wear_tick(&w, 2000, true, 12, false, &n), WEAR_NOTHING);
    assert_int_equal(wear_tick(&w, 999999, true, 12, false, &n), WEAR_NOTHING);
    /* the collector's R3 arrives: still nothing of ours */
    assert_int_equal(wear_tick(&w, 999999, true, 12, true, &n), WEAR_NOTHING);
    assert_int_equal(wear_tick(&w, 999999, false, 12, false, &n), WEAR_NOTHING);
    assert_int_equal(observe(&w, REMOVE("c-1"), 13, 1000, &n), WEAR_NOTHING);
}

static void test_wear_collector_down(void **state)
{
    (void)state;
    wear w;
    wear_note n;

    wear_init(&w, &limits);
    observe(&w, INSERT("c:2"), 10, 1000, &n);
    assert_int_equal(observe(&w, COUNTERS_NO_UID(30, 5001), 11, 1000, &n), WEAR_NOTHING);
    /* connected, the crossing record unacked: local_alert_wait_s later */
    assert_int_equal(wear_tick(&w, 2999, true, 10, false, &n), WEAR_NOTHING);
    assert_int_equal(wear_tick(&w, 3000, true, 10, false, &n), WEAR_RAISE);
    assert_string_equal(n.cause, "wear:c%3A2");
    assert_string_equal(n.message, "local warning (collector unreachable): replace cartridge c:2: "
                                   "30 s / 5001 strokes (limits 120 s / 5000)");
    /* once */
    assert_int_equal(wear_tick(&w, 9000, false, 10, false, &n), WEAR_NOTHING);
    /* later counters do not raise it again; removal clears it */
    assert_int_equal(observe(&w, COUNTERS_NO_UID(300, 9000), 12, 9000, &n), WEAR_NOTHING);
    assert_int_equal(observe(&w, REMOVE("c-other"), 13, 9000, &n), WEAR_NOTHING);
    assert_int_equal(observe(&w, REMOVE("c:2"), 14, 9000, &n), WEAR_CLEAR);
    assert_string_equal(n.cause, "wear:c%3A2");
    assert_string_equal(n.message, "local warning cleared: cartridge c:2 removed");
    assert_int_equal(wear_tick(&w, 99999, false, 10, false, &n), WEAR_NOTHING);
}

static void test_wear_disconnected_then_superseded(void **state)
{
    (void)state;
    wear w;
    wear_note n;

    wear_init(&w, &limits);
    /* counters naming a cartridge start it without an insert (restart) */
    assert_int_equal(observe(&w, COUNTERS("c-3", 121, 0), 20, 5000, &n), WEAR_NOTHING);
    /* not connected: at once */
    assert_int_equal(wear_tick(&w, 5000, false, 0, false, &n), WEAR_RAISE);
    /* the collector's own R3 arrives after the reconnect: ours goes */
    assert_int_equal(wear_tick(&w, 6000, true, 20, true, &n), WEAR_CLEAR);
    assert_string_equal(n.message, "local warning replaced by the collector's alert for cartridge c-3");
    assert_int_equal(wear_tick(&w, 7000, false, 20, false, &n), WEAR_NOTHING);
    assert_int_equal(observe(&w, REMOVE("c-3"), 21, 7000, &n), WEAR_NOTHING);

    /* a coalesced counters record (seq 0) never counts as acked; a new
     * cartridge ends the previous one's open warning */
    observe(&w, INSERT("c-4"), 22, 8000, &n);
    observe(&w, COUNTERS("c-4", 500, 0), 0, 8000, &n);
    assert_int_equal(wear_tick(&w, 10000, true, 999, false, &n), WEAR_RAISE);
    assert_int_equal(observe(&w, INSERT("c-4"), 23, 10000, &n), WEAR_NOTHING);  /* re-inserted */
    assert_int_equal(observe(&w, INSERT("c-5"), 24, 10000, &n), WEAR_CLEAR);
    assert_string_equal(n.message, "local warning cleared: cartridge c-4 replaced");
    assert_int_equal(wear_tick(&w, 20000, false, 0, false, &n), WEAR_NOTHING);
}

/* ---- the socket: replay first, a client that does not read is dropped ---------- */

static void replay_two(void *ctx, alert_socket *s, int client)
{
    (void)ctx;
    alert_socket_send(s, client, "r1\n", 3);
    alert_socket_send(s, client, "r2\n", 3);
}

static int connect_to(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static void serve(alert_socket *s)
{
    struct pollfd fds[ALERT_CLIENTS + 1];
    size_t n = alert_socket_pollfds(s, fds, ALERT_CLIENTS + 1);
    poll(fds, n, 100);
    alert_socket_service(s, fds, n, replay_two, NULL);
}

static void test_socket_replay_and_slow_client(void **state)
{
    (void)state;
    char path[64], err[200], buf[64], line[1024];
    alert_socket *s;

    snprintf(path, sizeof path, "/tmp/test_chair_alerts.%d.sock", (int)getpid());
    assert_int_equal(alert_socket_open(path, &s, err, sizeof err), 0);
    int reader = connect_to(path), idle = connect_to(path);
    serve(s);
    assert_int_equal(alert_socket_clients(s), 2);
    alert_socket_broadcast(s, "live\n", 5);
    ssize_t got = 0, r;
    while (got < 11 && (r = read(reader, buf + got, sizeof buf - (size_t)got)) > 0)
        got += r;
    assert_int_equal(got, 11);
    assert_memory_equal(buf, "r1\nr2\nlive\n", 11);

    /* idle never reads: broadcasting never blocks, and once its socket
     * buffer and ALERT_CLIENT_BUF are full it is dropped; reader stays. */
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 4096 && alert_socket_clients(s) == 2; i++) {
        alert_socket_broadcast(s, line, sizeof line);
        while (recv(reader, buf, sizeof buf, MSG_DONTWAIT) > 0)
            ;  /* reader keeps up */
    }
    assert_int_equal(alert_socket_clients(s), 1);
    close(reader);
    close(idle);
    alert_socket_close(s);
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    log_set_level(LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_collector),
        cmocka_unit_test(test_line_agent_escaped),
        cmocka_unit_test(test_book_events_and_lists),
        cmocka_unit_test(test_book_partial_list_and_locals),
        cmocka_unit_test(test_wear_collector_reachable),
        cmocka_unit_test(test_wear_collector_down),
        cmocka_unit_test(test_wear_disconnected_then_superseded),
        cmocka_unit_test(test_socket_replay_and_slow_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
