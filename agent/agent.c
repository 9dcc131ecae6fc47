#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alert_book.h"
#include "alert_socket.h"
#include "checkpoint.h"
#include "feed.h"
#include "intake.h"
#include "journal.h"
#include "log.h"
#include "message.h"
#include "outbox.h"
#include "simulator.h"
#include "uplink.h"
#include "wear.h"

#define SIM_EVENTS_PER_TURN 512   /* bounded work per loop turn keeps the uplink served */
#define BACKOFF_MIN_MS      500
#define BACKOFF_MAX_MS      60000
#define ACK_TIMEOUT_MAX_MS  600000
#define PRESENCE_EVERY_MS   60000   /* status republished at most this often */

typedef struct agent {
    const agent_config *cfg;
    const agent_options *opt;
    journal *j;
    uplink *up;
    simulator *sim;
    feed *feed;
    signer *key;
    checkpointer ckpt;
    unsigned rand_state;

    uint64_t send_next;            /* next seq to publish */
    uint64_t generation_seen;
    int64_t next_connect_ms, backoff_ms;
    int64_t ack_progress_ms, ack_timeout_ms;
    int64_t real_start_ms, status_written_ms;
    int64_t sim_epoch_ms;          /* simulated time at real_start_ms */
    uint64_t coalesced_counters;
    intake in;                     /* refusals: state, counter, rate-limited log */

    /* The chair's alerts: the collector's and our local wear warnings. */
    alert_book book;
    alert_socket *asock;           /* NULL: alerts_socket off */
    wear wear;
    /* The retained status on the broker: what was last published. */
    uint64_t presence_generation, presence_backlog;
    int64_t presence_ms;

    journal_entry entries[MESSAGE_MAX_RECORDS];
    char *read_buf, *batch_buf;
} agent;

#define READ_BUF_BYTES  ((size_t)MESSAGE_MAX_RECORDS * JOURNAL_MAX_PAYLOAD + JOURNAL_MAX_PAYLOAD)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the chair's alerts (docs/agent.md, "The alerts socket") --------------- */

/* alert_book_emit_fn: one line to every alerts_socket client, and the log.
 * cause and message hold device ids and the collector's text: quoted. */
static void emit_alert(void *ctx, const char *event, const chair_alert *al)
{
    agent *a = ctx;
    char line[ALERT_LINE_MAX];
    int len = alert_line_encode(al, event, line, sizeof line);

    log_info("alert line event=%s source=%s rule=%s severity=%s cause=%s message=%s", event,
             alert_source_name(al->source), LOG_Q(al->rule), LOG_Q(al->severity), LOG_Q(al->cause),
             LOG_Q(al->message));
    if (len > 0 && a->asock)
        alert_socket_broadcast(a->asock, line, (size_t)len);
}

/* alert_socket_replay_fn: a new client gets every open alert first. */
static void replay_alerts(void *ctx, alert_socket *s, int client)
{
    agent *a = ctx;
    char line[ALERT_LINE_MAX];

    for (size_t i = 0; i < a->book.n; i++) {
        int len = alert_line_encode(&a->book.e[i], "open", line, sizeof line);
        if (len > 0)
            alert_socket_send(s, client, line, (size_t)len);
    }
}

static void apply_wear(agent *a, wear_action act, const wear_note *note, int64_t now)
{
    chair_alert al = {.source = ALERT_SRC_AGENT};

    if (act == WEAR_NOTHING)
        return;
    snprintf(al.rule, sizeof al.rule, "R3");
    snprintf(al.severity, sizeof al.severity, "maintenance");
    snprintf(al.cause, sizeof al.cause, "%s", note->cause);
    snprintf(al.message, sizeof al.message, "%s", note->message);
    record_ts_format(now, al.at);
    if (act == WEAR_RAISE) {
        alert_book_put_local(&a->book, &al);
        emit_alert(a, "raised", &al);
    } else {
        alert_book_remove_local(&a->book, al.rule, al.cause);
        emit_alert(a, "cleared", &al);
    }
}

/* Every event the agent takes (seq 0: a coalesced usage.counters). */
static void observe_wear(agent *a, const record *r, uint64_t seq, int64_t now)
{
    wear_note note;
    apply_wear(a, wear_observe(&a->wear, r, seq, now, &note), &note, now);
}

/* Applies what the collector sent on our alerts topic, then lets the wear
 * tracker judge whether the collector is unreachable. */
static void serve_alerts(agent *a, int64_t now)
{
    uplink_snapshot s;
    char *payload, err[160], cause[160];
    size_t len;
    bool retained;
    wear_note note;

    while (uplink_take_alert(a->up, &payload, &len, &retained)) {
        if (alert_book_apply(&a->book, payload, len, retained, emit_alert, a, err, sizeof err) != 0)
            log_warn("alerts message ignored: %s payload=%s", err, LOG_QN(payload, len));
        free(payload);
    }
    uplink_snapshot_get(a->up, &s);
    bool collector_has_it = false;
    if (a->wear.have) {
        wear_cause(a->wear.uid, cause, sizeof cause);
        collector_has_it = alert_book_find(&a->book, ALERT_SRC_COLLECTOR, "R3", cause) != NULL;
    }
    apply_wear(a, wear_tick(&a->wear, now, s.connected, journal_acked_seq(a->j), collector_has_it, &note),
               &note, now);
}

/* The retained status on smp/v1/dev/<id>/status: at each new connection,
 * then when the backlog changed, at most once a minute. */
static void publish_presence(agent *a, int64_t now)
{
    uplink_snapshot s;
    char json[256], ts[RECORD_TS_LEN + 1];
    uint64_t head = journal_head_seq(a->j), acked = journal_acked_seq(a->j);

    uplink_snapshot_get(a->up, &s);
    if (!s.connected)
        return;
    if (s.generation == a->presence_generation &&
        (head - acked == a->presence_backlog || now - a->presence_ms < PRESENCE_EVERY_MS))
        return;
    record_ts_format(now, ts);
    snprintf(json, sizeof json,
             "{\"state\":\"online\",\"backlog\":%" PRIu64 ",\"head_seq\":%" PRIu64
             ",\"acked_seq\":%" PRIu64 ",\"at\":\"%s\"}",
             head - acked, head, acked, ts);
    if (uplink_publish_status(a->up, json) == 0) {
        a->presence_generation = s.generation;
        a->presence_backlog = head - acked;
        a->presence_ms = now;
    }
}

/* ---- producers ----------------------------------------------------------- */

/* What a refused append means for intake. err ends with strerror() of the
 * failed call (journal.c), which is all a producer needs to read. */
static intake_state refusal_state(int rc, const char *err)
{
    if (rc == JOURNAL_FULL)
        return INTAKE_JOURNAL_FULL;
    if (strstr(err, strerror(ENOSPC)) || strstr(err, strerror(EDQUOT)) || strstr(err, strerror(EFBIG)))
        return INTAKE_DISK_FULL;
    return INTAKE_WRITE_ERROR;
}

static const char *error_reason(const char *err)
{
    const char *r = strrchr(err, ':');
    return r && r[1] == ' ' ? r + 2 : err;
}

/* Journals every simulated event that is due. Returns 1 when more are due
 * right now (the loop should not sleep), 0 otherwise, -1 on a journal error. */
static int feed_simulator(agent *a, int64_t now, int64_t *next_due_ms)
{
    int64_t sim_now = a->opt->speed == 0
                          ? INT64_MAX
                          : a->sim_epoch_ms + (now - a->real_start_ms) * a->opt->speed;
    char err[256];
    int taken = 0;
    const record *ev;
    int64_t due;

    *next_due_ms = -1;
    while (taken < SIM_EVENTS_PER_TURN && sim_peek(a->sim, &due, &ev)) {
        if (due > sim_now) {
            *next_due_ms = a->real_start_ms + (due - a->sim_epoch_ms) / a->opt->speed;
            break;
        }
        record r = *ev;
        record_ts_format(due, r.ts);
        int got = outbox_submit(a->j, &r, due, err, sizeof err);
        if (got < 0) {
            log_error("journal append failed: %s", err);
            return -1;
        }
        if (got == JOURNAL_NOSPACE || (got == JOURNAL_FULL && r.type != RT_USAGE_COUNTERS)) {
            /* Full journal or disk: a compliance event is never dropped;
             * wait for acks (or space) and try the same event again. */
            if (got == JOURNAL_FULL)
                snprintf(err, sizeof err, "%" PRIu64 " bytes unacked", journal_unacked_bytes(a->j));
            intake_refused(&a->in, refusal_state(got, err), err, false, now);
            break;
        }
        /* Counters are cumulative: a coalesced one is summed by the next. */
        a->coalesced_counters += got == JOURNAL_FULL;
        if (got == JOURNAL_OK)
            intake_accepted(&a->in, now);
        observe_wear(a, &r, got == JOURNAL_OK ? r.seq : 0, now);
        sim_pop(a->sim);
        taken++;
        if (checkpoint_maybe(&a->ckpt, a->j, due, err, sizeof err) != 0) {
            log_error("checkpoint failed: %s", err);
            return -1;
        }
    }
    if (taken && journal_sync(a->j, err, sizeof err) != 0) {
        log_error("journal sync failed: %s", err);
        return -1;
    }
    return taken == SIM_EVENTS_PER_TURN;
}

/* feed_submit_fn: journals one producer event (synced by the caller before
 * the answer leaves). */
static int submit_feed_event(void *ctx, record *event, const char *event_id, char *answer,
                             size_t cap)
{
    agent *a = ctx;
    int64_t now = now_ms();
    char err[700];
    uint64_t known = journal_find_event_id(a->j, event_id);

    /* A retry of an event already journaled (its answer was lost): the
     * same answer again, nothing stored — also while the journal is full. */
    if (known) {
        log_debug("feed event_id=%s already journaled seq=%" PRIu64, event_id, known);
        snprintf(answer, cap, "ok %" PRIu64, known);
        return 0;
    }
    int rc = outbox_submit_id(a->j, event, event_id, now, err, sizeof err);
    if (rc < 0) {
        log_error("journal append failed: %s", err);
        snprintf(answer, cap, "error journal: %s", err);
        return -1;
    }
    if (rc == JOURNAL_FULL && event->type == RT_USAGE_COUNTERS) {
        a->coalesced_counters++;
        observe_wear(a, event, 0, now);
        snprintf(answer, cap, "ok coalesced");
        return 0;
    }
    if (rc == JOURNAL_FULL) {
        snprintf(err, sizeof err, "%" PRIu64 " bytes unacked", journal_unacked_bytes(a->j));
        intake_refused(&a->in, INTAKE_JOURNAL_FULL, err, true, now);
        snprintf(answer, cap, "error outbox: full (%s); event refused, retry later", err);
        return 0;
    }
    if (rc == JOURNAL_NOSPACE) {
        /* Nothing was stored and the journal is intact: refuse this event,
         * keep sending and applying acks (which free space). */
        intake_refused(&a->in, refusal_state(rc, err), err, true, now);
        snprintf(answer, cap, "error journal: cannot store the event: %s; event refused, retry later",
                 error_reason(err));
        return 0;
    }
    intake_accepted(&a->in, now);
    observe_wear(a, event, event->seq, now);
    snprintf(answer, cap, "ok %" PRIu64, event->seq);
    if (checkpoint_maybe(&a->ckpt, a->j, now, err, sizeof err) != 0) {
        log_error("checkpoint failed: %s", err);
        return -1;
    }
    return 0;
}

/* Reads producers' lines, journals them, syncs once, then answers them all.
 * Returns 1 when lines are left for the next turn, 0 when none, -1 on error. */
static int serve_feed(agent *a, const struct pollfd *fds, size_t n)
{
    char err[256];
    int more = feed_service(a->feed, fds, n, submit_feed_event, a);

    if (more < 0 || journal_sync(a->j, err, sizeof err) != 0) {
        if (more >= 0)
            log_error("journal sync failed: %s", err);
        return -1;
    }
    feed_flush(a->feed);
    return more;
}

/* ---- uplink -------------------------------------------------------------- */

static void schedule_reconnect(agent *a, int64_t now)
{
    /* Exponential back-off with jitter: 50-100% of the current step, so a
     * fleet that lost the broker together does not return in lockstep. */
    int64_t jitter = a->backoff_ms / 2 + rand_r(&a->rand_state) % (a->backoff_ms / 2 + 1);
    a->next_connect_ms = now + jitter;
    a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
}

static int apply_ack(agent *a, const uplink_snapshot *s, int64_t now)
{
    char err[256];

    if (s->ack_seq <= journal_acked_seq(a->j))
        return 0;
    if (journal_ack(a->j, s->ack_seq, err, sizeof err) != 0) {
        log_error("cannot record ack: %s", err);
        return -1;
    }
    a->ack_progress_ms = now;
    a->ack_timeout_ms = a->cfg->ack_timeout_s * 1000;
    return 0;
}

static int send_batches(agent *a, const uplink_snapshot *s, int64_t now)
{
    uint64_t acked = journal_acked_seq(a->j);
    int inflight = s->inflight;
    char err[256];

    if (a->send_next <= acked)
        a->send_next = acked + 1;
    while (inflight < a->cfg->window_batches &&
           a->send_next - acked - 1 < (uint64_t)a->cfg->max_unacked) {
        size_t n;
        if (journal_read(a->j, a->send_next, (size_t)a->cfg->batch_max, a->entries, &n,
                         a->read_buf, READ_BUF_BYTES, err, sizeof err) != 0) {
            log_error("journal read failed: %s", err);
            return -1;
        }
        if (n == 0)
            break;
        const char *canon[MESSAGE_MAX_RECORDS];
        size_t lens[MESSAGE_MAX_RECORDS];
        for (size_t i = 0; i < n; i++) {
            canon[i] = a->entries[i].payload;
            lens[i] = a->entries[i].len;
        }
        int len;
        /* Halve until the batch fits the 256 KiB message limit. */
        while ((len = message_encode_batch(a->cfg->device_id, canon, lens, n, a->batch_buf,
                                           MESSAGE_MAX_BYTES)) < 0 && n > 1)
            n /= 2;
        if (len < 0 || uplink_publish_events(a->up, a->batch_buf, (size_t)len) != 0)
            break;
        /* Nothing was awaiting an ack: the wait for one starts now, not at
         * the last ack (which may be long ago after an idle pause). */
        if (a->send_next == acked + 1)
            a->ack_progress_ms = now;
        a->send_next += n;
        inflight++;
    }
    return 0;
}

static int pump_uplink(agent *a, int64_t now)
{
    uplink_snapshot s;

    uplink_snapshot_get(a->up, &s);
    if (apply_ack(a, &s, now) != 0)
        return -1;
    if (!s.connected) {
        if (!s.connecting && now >= a->next_connect_ms) {
            uplink_connect(a->up);
            schedule_reconnect(a, now);
        }
        return 0;
    }
    if (s.generation != a->generation_seen) {
        /* New connection: whatever was in flight may be lost; resend all
         * that the collector has not acked. */
        a->generation_seen = s.generation;
        a->send_next = journal_acked_seq(a->j) + 1;
        a->backoff_ms = BACKOFF_MIN_MS;
        a->ack_progress_ms = now;
    }
    uint64_t acked = journal_acked_seq(a->j);
    if (a->send_next > acked + 1 && now - a->ack_progress_ms > a->ack_timeout_ms) {
        log_warn("no ack progress for %" PRId64 " ms acked=%" PRIu64 " sent_to=%" PRIu64
                 "; resending",
                 now - a->ack_progress_ms, acked, a->send_next - 1);
        a->send_next = acked + 1;
        a->ack_progress_ms = now;
        a->ack_timeout_ms = a->ack_timeout_ms * 2 > ACK_TIMEOUT_MAX_MS ? ACK_TIMEOUT_MAX_MS
                                                                        : a->ack_timeout_ms * 2;
    }
    return send_batches(a, &s, now);
}

/* ---- status -------------------------------------------------------------- */

/* Replaces path with text. Normally a temp file renamed over it (readers
 * never see half a status); on a full disk, where the temp file cannot be
 * written, path is overwritten in place — a status the size of the old one
 * needs no new space — so --status still tells the truth. */
static void replace_file(const char *path, const char *text, size_t len)
{
    char tmp[CONFIG_STR_MAX + 24];
    FILE *f;
    int fd;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((f = fopen(tmp, "w"))) {
        bool ok = fwrite(text, 1, len, f) == len;
        if (fclose(f) == 0 && ok && rename(tmp, path) == 0)
            return;
        unlink(tmp);
    }
    if ((fd = open(path, O_WRONLY)) < 0)
        return;
    if (pwrite(fd, text, len, 0) == (ssize_t)len && ftruncate(fd, (off_t)len) != 0) {
        /* a longer old status keeps its tail: still valid up to here */
    }
    close(fd);
}

/* The open alerts for the status file: [{"source","id","rule",...}]. */
static char *alerts_json(const alert_book *b)
{
    cJSON *list = cJSON_CreateArray();
    char *text;

    for (size_t i = 0; list && i < b->n; i++) {
        const chair_alert *al = &b->e[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(list, o);
        cJSON_AddStringToObject(o, "source", alert_source_name(al->source));
        if (al->source == ALERT_SRC_COLLECTOR)
            cJSON_AddNumberToObject(o, "id", (double)al->id);
        cJSON_AddStringToObject(o, "rule", al->rule);
        cJSON_AddStringToObject(o, "severity", al->severity);
        cJSON_AddStringToObject(o, "cause", al->cause);
        cJSON_AddStringToObject(o, "message", al->message);
        cJSON_AddStringToObject(o, "at", al->at);
    }
    text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    return text;
}

static void write_status(agent *a, int64_t now)
{
    char path[CONFIG_STR_MAX + 16], ts[RECORD_TS_LEN + 1], why[768];
    uplink_snapshot s;
    struct statvfs vfs;

    if (now - a->status_written_ms < 1000)
        return;
    a->status_written_ms = now;
    uplink_snapshot_get(a->up, &s);
    uplink_connect_error(a->up, why, sizeof why);
    /* cJSON escapes it: the text holds paths and host names. */
    cJSON *why_json = cJSON_CreateString(why);
    char *why_text = why_json ? cJSON_PrintUnformatted(why_json) : NULL;
    cJSON_Delete(why_json);
    cJSON *intake_json = cJSON_CreateString(a->in.reason);
    char *intake_text = intake_json ? cJSON_PrintUnformatted(intake_json) : NULL;
    cJSON_Delete(intake_json);
    char *alerts_text = alerts_json(&a->book);
    size_t cap = 4096 + (alerts_text ? strlen(alerts_text) : 0);
    char *text = malloc(cap);
    char journal_dir[CONFIG_STR_MAX + 16];
    snprintf(journal_dir, sizeof journal_dir, "%s/journal", a->cfg->data_dir);
    long long disk_free = statvfs(journal_dir, &vfs) == 0
                              ? (long long)vfs.f_bavail * (long long)vfs.f_frsize : -1;
    record_ts_format(now, ts);
    snprintf(path, sizeof path, "%s/status", a->cfg->data_dir);
    int len = !text ? -1 : snprintf(
        text, cap,
        "{\"device\":\"%s\",\"updated\":\"%s\",\"connected\":%s,\"head_seq\":%" PRIu64
        ",\"head_hash\":\"%s\",\"acked_seq\":%" PRIu64 ",\"backlog\":%" PRIu64
        ",\"sent_seq\":%" PRIu64 ",\"inflight\":%d,\"journal_bytes\":%" PRIu64
        ",\"journal_unacked_bytes\":%" PRIu64 ",\"journal_max_bytes\":%" PRIu64
        ",\"disk_free_bytes\":%lld,\"intake\":\"%s\",\"intake_error\":%s,\"refused_events\":%" PRIu64
        ",\"coalesced_counters\":%" PRIu64 ",\"connect_error\":%s,\"open_alerts\":%zu"
        ",\"alerts\":%s,\"alerts_clients\":%d}\n",
        a->cfg->device_id, ts, s.connected ? "true" : "false", journal_head_seq(a->j),
        journal_head_hash(a->j), journal_acked_seq(a->j), journal_head_seq(a->j) - journal_acked_seq(a->j),
        a->send_next > journal_acked_seq(a->j) ? a->send_next - 1 : journal_acked_seq(a->j), s.inflight,
        journal_bytes(a->j), journal_unacked_bytes(a->j), (uint64_t)a->cfg->journal_max_mb << 20,
        disk_free, intake_state_name(a->in.state), intake_text ? intake_text : "\"\"", a->in.refused,
        a->coalesced_counters, why_text ? why_text : "\"\"", a->book.n,
        alerts_text ? alerts_text : "[]", a->asock ? alert_socket_clients(a->asock) : 0);
    cJSON_free(why_text);
    cJSON_free(intake_text);
    cJSON_free(alerts_text);
    if (len > 0 && (size_t)len < cap)
        replace_file(path, text, (size_t)len);
    free(text);
}

/* DATA_DIR/sim_faults.json: what the simulator injected, so a test can
 * check that the collector's rules found exactly that. Each fault is counted
 * by the role that injects it (simulator.h), so over a clinic with one agent
 * logging its autoclave the files sum to the alerts. "complete" is false
 * when the agent stopped before the simulation ended (then events counted
 * here may still have been waiting in the simulator's queue). */
static void write_sim_faults(agent *a)
{
    char path[CONFIG_STR_MAX + 32], tmp[CONFIG_STR_MAX + 40];
    const record *ev;
    int64_t due;
    sim_faults f;
    FILE *out;

    sim_get_faults(a->sim, &f);
    bool complete = !sim_peek(a->sim, &due, &ev);
    snprintf(path, sizeof path, "%s/sim_faults.json", a->cfg->data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(out = fopen(tmp, "w"))) {
        log_warn("cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(out,
            "{\"device\":\"%s\",\"role\":\"%s\",\"sterilizer\":\"%s\",\"seed\":%" PRIu64
            ",\"fault_rate\":%d,\"days\":%d,\"complete\":%s,"
            "\"expired_cartridge\":%d,\"missing_lot\":%d,\"reused_cartridge\":%d,"
            "\"failed_cycle\":%d,\"grip_from_failed_load\":%d,\"positive_spore\":%d}\n",
            a->cfg->device_id, sim_role_name(a->opt->sim_role), sim_sterilizer(a->sim),
            a->opt->seed, a->opt->fault_pct, a->opt->sim_days, complete ? "true" : "false",
            f.expired_cartridge, f.missing_lot, f.reused_cartridge, f.failed_cycle,
            f.grip_from_failed_load, f.positive_spore);
    if (fclose(out) != 0 || rename(tmp, path) != 0)
        log_warn("cannot write %s: %s", path, strerror(errno));
}

/* ---- lifecycle ----------------------------------------------------------- */

static int agent_open(agent *a, const agent_config *cfg, const agent_options *opt)
{
    mqtt_link_config link = {cfg->broker_host, (int)cfg->broker_port, cfg->ca_file,
                             cfg->cert_file, cfg->key_file, (int)cfg->keepalive_s};
    journal_limits limits = {(uint64_t)cfg->segment_kb * 1024,
                             (uint64_t)cfg->journal_max_mb * 1024 * 1024};
    char dir[CONFIG_STR_MAX + 16], err[512];

    memset(a, 0, sizeof *a);
    a->cfg = cfg;
    a->opt = opt;
    a->rand_state = (unsigned)getpid() ^ (unsigned)now_ms();
    a->backoff_ms = BACKOFF_MIN_MS;
    a->ack_timeout_ms = cfg->ack_timeout_s * 1000;
    a->real_start_ms = now_ms();
    intake_init(&a->in);
    alert_book_init(&a->book);
    wear_init(&a->wear, &(wear_limits){cfg->cartridge_max_run_s, cfg->cartridge_max_strokes,
                                       cfg->local_alert_wait_s * 1000});
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("data_dir %s: cannot create: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/journal", cfg->data_dir);
    if (mqtt_link_check_files(&link, err, sizeof err) != 0 ||
        journal_open(dir, &limits, &a->j, err, sizeof err) != 0 ||
        uplink_new(&link, cfg->device_id, &a->up, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    if (signer_open(cfg->key_file, &a->key, err, sizeof err) != 0 ||
        (cfg->feed_socket[0] && feed_open(cfg->feed_socket, &a->feed, err, sizeof err) != 0) ||
        (cfg->alerts_socket[0] && alert_socket_open(cfg->alerts_socket, &a->asock, err, sizeof err) != 0)) {
        log_error("%s", err);
        return -1;
    }
    checkpoint_init(&a->ckpt, a->key, cfg->device_id, a->j, now_ms());
    a->read_buf = malloc(READ_BUF_BYTES);
    a->batch_buf = malloc(MESSAGE_MAX_BYTES);
    if (!a->read_buf || !a->batch_buf)
        return -1;
    if (opt->simulate) {
        sim_config sc = {.seed = opt->seed, .start_ms = opt->sim_start_ms,
                         .days = opt->sim_days, .fault_pct = opt->fault_pct,
                         .device_id = cfg->device_id, .role = opt->sim_role,
                         .sterilizer_id = opt->sim_sterilizer};
        const record *first;
        if (!(a->sim = sim_new(&sc)))
            return -1;
        /* Simulated time starts at the first event, not at midnight. */
        if (!sim_peek(a->sim, &a->sim_epoch_ms, &first))
            a->sim_epoch_ms = opt->sim_start_ms;
        a->ckpt.last_ms = a->sim_epoch_ms;
    }
    log_info("started device=%s head_seq=%" PRIu64 " acked_seq=%" PRIu64 " journal_bytes=%" PRIu64
             " unacked_bytes=%" PRIu64,
             cfg->device_id, journal_head_seq(a->j), journal_acked_seq(a->j), journal_bytes(a->j),
             journal_unacked_bytes(a->j));
    return 0;
}

static void agent_close(agent *a)
{
    uplink_free(a->up);
    feed_close(a->feed);
    alert_socket_close(a->asock);
    journal_close(a->j);
    signer_free(a->key);
    sim_free(a->sim);
    free(a->read_buf);
    free(a->batch_buf);
}

/* --exit-when-done: no simulated event is left and the collector acked all. */
static bool simulation_done_and_acked(agent *a)
{
    const record *ev;
    int64_t due;
    return a->sim && !sim_peek(a->sim, &due, &ev) && journal_acked_seq(a->j) == journal_head_seq(a->j);
}

/* Sleeps in poll() until the uplink reports, a producer writes, the next
 * simulated event is due, or 200 ms pass; then serves the feed. */
static int wait_and_serve(agent *a, int64_t now, int64_t next_due, bool busy)
{
    struct pollfd fds[FEED_CLIENTS + 2 + ALERT_CLIENTS + 1];
    size_t n = 1, nfeed = 0, nalerts = 0;
    int timeout = busy ? 0 : 200;

    if (!busy && next_due >= 0 && next_due - now < timeout)
        timeout = next_due - now < 1 ? 1 : (int)(next_due - now);
    fds[0] = (struct pollfd){uplink_wake_fd(a->up), POLLIN, 0};
    if (a->feed)
        n += nfeed = feed_pollfds(a->feed, fds + 1, FEED_CLIENTS + 1);
    if (a->asock)
        n += nalerts = alert_socket_pollfds(a->asock, fds + n, ALERT_CLIENTS + 1);
    if (poll(fds, n, timeout) < 0 && errno != EINTR) {
        log_error("poll failed: %s", strerror(errno));
        return -1;
    }
    uplink_wake_drain(a->up);
    if (a->asock)
        alert_socket_service(a->asock, fds + 1 + nfeed, nalerts, replay_alerts, a);
    return a->feed ? serve_feed(a, fds + 1, nfeed) : 0;
}

int agent_run(const agent_config *cfg, const agent_options *opt, volatile sig_atomic_t *stop)
{
    agent a;
    int status = 1, feed_more = 0;

    if (agent_open(&a, cfg, opt) != 0)
        goto cleanup;
    while (!*stop) {
        int64_t now = now_ms(), next_due = -1;
        int more = 0;
        if (a.sim && (more = feed_simulator(&a, now, &next_due)) < 0)
            goto cleanup;
        if (pump_uplink(&a, now) != 0)
            goto cleanup;
        serve_alerts(&a, now);
        publish_presence(&a, now);
        write_status(&a, now);
        if (opt->exit_when_done && simulation_done_and_acked(&a)) {
            log_info("simulation done and acked head_seq=%" PRIu64, journal_head_seq(a.j));
            break;
        }
        if ((feed_more = wait_and_serve(&a, now, next_due, more || feed_more)) < 0)
            goto cleanup;
    }
    status = 0;
    a.status_written_ms = 0;
    write_status(&a, now_ms());
cleanup:
    if (a.sim)
        write_sim_faults(&a);
    agent_close(&a);
    return status;
}
