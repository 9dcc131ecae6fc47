#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "reason.h"
#include "record.h"
#include "utf8.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The collector's name as a label value: its certificate CN (what the
 * broker knows it by), at most this long. */
#define COLLECTOR_NAME_MAX 256

struct metrics_server {
    struct MHD_Daemon *daemon;
    sqldb *db;                      /* used on the HTTP thread only, once started */
    const metrics_counters *counters;
    char collector[COLLECTOR_NAME_MAX];
};

/* ---- text buffer ---------------------------------------------------------- */

typedef struct mbuf {
    char *p;
    size_t len, cap;
    bool oom;
} mbuf;

static bool mb_reserve(mbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void mb_printf(mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_printf(mbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !mb_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void mb_label_value(mbuf *b, const char *v)
{
    size_t n = metrics_escape_label(v, NULL, 0);
    if (!mb_reserve(b, n))
        return;
    metrics_escape_label(v, b->p + b->len, b->cap - b->len);
    b->len += n;
}

size_t metrics_escape_label(const char *v, char *out, size_t outlen)
{
    size_t n = 0, written = 0, left = strlen(v);

    while (left > 0) {
        /* A byte that is not UTF-8 becomes U+FFFD: one bad label value makes
         * Prometheus refuse the whole scrape, for good. */
        size_t k = utf8_char_len(v, left), used = k ? k : 1;
        char esc = *v == '\\' ? '\\' : *v == '"' ? '"' : *v == '\n' ? 'n' : 0;
        char pair[2] = {'\\', esc};
        const char *src = !k ? "\xef\xbf\xbd" : esc ? pair : v;
        size_t m = !k ? 3 : esc ? 2 : k;
        /* Whole characters and whole escapes only, when out is short. */
        if (out && written == n && n + m < outlen) {
            memcpy(out + n, src, m);
            written += m;
        }
        n += m;
        v += used;
        left -= used;
    }
    if (out && outlen)
        out[written] = '\0';
    return n;
}

/* ---- families --------------------------------------------------------------- */

static void family_header(mbuf *b, const char *name, const char *type, const char *help)
{
    mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample of this process's own: labelled collector="<name>". */
static void own_sample(mbuf *b, const char *name, const char *collector, uint_fast64_t v)
{
    mb_printf(b, "%s{collector=\"", name);
    mb_label_value(b, collector);
    mb_printf(b, "\"} %" PRIuFAST64 "\n", v);
}

/* The same with a result label: {collector="<name>",result="<result>"}. */
static void result_sample(mbuf *b, const char *name, const char *collector, const char *result,
                          uint_fast64_t v)
{
    mb_printf(b, "%s{collector=\"", name);
    mb_label_value(b, collector);
    mb_printf(b, "\",result=\"%s\"} %" PRIuFAST64 "\n", result, v);
}

static void counter(mbuf *b, const char *name, const char *help, const char *collector,
                    const atomic_uint_fast64_t *v)
{
    family_header(b, name, "counter", help);
    own_sample(b, name, collector, (uint_fast64_t)atomic_load_explicit(v, memory_order_relaxed));
}

/* The per-process families: what this collector did since it started. */
static void render_counters(mbuf *b, const metrics_counters *c, const char *k)
{
    counter(b, "smp_messages_received_total", "Event messages handed to ingest by this collector.",
            k, &c->messages_received);
    counter(b, "smp_records_stored_total", "Records this collector inserted and committed.", k,
            &c->records_stored);
    counter(b, "smp_records_duplicate_total",
            "Records received again with the same hash (acked, not stored), by this collector.", k,
            &c->duplicates);
    counter(b, "smp_records_conflict_total",
            "Records received again with a different hash (R9), by this collector.", k,
            &c->conflicts);
    counter(b, "smp_messages_quarantined_total",
            "Messages rejected as a whole and quarantined by this collector.", k, &c->quarantined);
    counter(b, "smp_commit_groups_total", "Group transactions this collector committed.", k,
            &c->groups_committed);
    counter(b, "smp_commit_failures_total",
            "Tries of a group transaction that failed (retried, never acked), this collector's.", k,
            &c->commit_failures);
    counter(b, "smp_commit_conflicts_total",
            "Groups this collector ran again at once after a deadlock or lost connection "
            "(several collectors on one database).", k, &c->group_conflicts);
    family_header(b, "smp_storage_failing", "gauge",
                  "1 while this collector's store cannot commit and it holds messages unacked.");
    own_sample(b, "smp_storage_failing", k,
               (uint_fast64_t)atomic_load_explicit(&c->storage_failing, memory_order_relaxed));
    family_header(b, "smp_messages_waiting", "gauge",
                  "Messages this collector is preparing or storing: taken from its inbox, not yet stored or refused.");
    own_sample(b, "smp_messages_waiting", k,
               (uint_fast64_t)atomic_load_explicit(&c->messages_waiting, memory_order_relaxed));
    family_header(b, "smp_checkpoints_verified_total", "counter",
                  "Checkpoint signatures this collector's verifier checked, by result "
                  "(failed: R9 raised).");
    result_sample(b, "smp_checkpoints_verified_total", k, "verified",
                  (uint_fast64_t)atomic_load_explicit(&c->checkpoints_verified, memory_order_relaxed));
    result_sample(b, "smp_checkpoints_verified_total", k, "failed",
                  (uint_fast64_t)atomic_load_explicit(&c->checkpoints_failed, memory_order_relaxed));
}

/* Said in the HELP of every family read from the database. */
#define FLEET_WIDE " Fleet-wide, from the database: every collector serves the same; take max, not sum."

/* A family read from the database: the query returns nlabels text
 * columns (none: one sample without labels), then the value (an integer,
 * or with ts_value a record timestamp, served as unix seconds). A row
 * whose value is NULL is left out. */
typedef struct db_family {
    const char *name, *type, *help;
    const char *labels[3];
    int nlabels;
    bool ts_value;
    const char *sql;
} db_family;

static const db_family db_families[] = {
    {"smp_alerts_open", "gauge", "Alerts not cleared, by rule, severity and clinic." FLEET_WIDE,
     {"rule", "severity", "clinic"}, 3, false,
     "SELECT rule, severity, clinic, COUNT(*) FROM alerts WHERE cleared_at IS NULL "
     "GROUP BY rule, severity, clinic ORDER BY rule, severity, clinic"},
    {"smp_device_last_seen_seconds", "gauge",
     "Unix time a collector last stored a message of the device (devices not retired)." FLEET_WIDE,
     {"device", "clinic"}, 2, true,
     "SELECT s.device_id, d.clinic, s.last_seen "
     "FROM device_state s JOIN devices d ON d.device_id = s.device_id "
     "WHERE d.retired_at IS NULL ORDER BY s.device_id"},
    {"smp_device_acked_seq", "gauge",
     "Contiguous chain head acked to the device (devices not retired)." FLEET_WIDE,
     {"device", "clinic"}, 2, false,
     "SELECT s.device_id, d.clinic, s.acked_seq "
     "FROM device_state s JOIN devices d ON d.device_id = s.device_id "
     "WHERE d.retired_at IS NULL ORDER BY s.device_id"},
    /* Notification outbox (docs/collector.md, "Notifications"): what each
     * sink has not accepted yet, and its tries that failed (all-time). */
    {"smp_notify_pending", "gauge",
     "Alert events queued for a notification sink and not yet accepted by it." FLEET_WIDE,
     {"sink"}, 1, false,
     "SELECT sink, CAST(SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) "
     "FROM notify_outbox GROUP BY sink ORDER BY sink"},
    {"smp_notify_failed_attempts_total", "counter",
     "Delivery attempts a notification sink did not accept." FLEET_WIDE,
     {"sink"}, 1, false,
     "SELECT sink, CAST(SUM(attempts - CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END) AS BIGINT) "
     "FROM notify_outbox GROUP BY sink ORDER BY sink"},
    /* The verifier's queue (docs/collector.md, "Checkpoint signatures"):
     * stored checkpoints whose signature no collector has checked yet. */
    {"smp_checkpoints_pending", "gauge",
     "Stored checkpoints whose signature is not verified yet (the verifier's queue)." FLEET_WIDE,
     {NULL}, 0, false,
     "SELECT COUNT(*) FROM checkpoints WHERE state = 'pending'"},
};

/* The value of a row: false when the row is to be left out. */
static bool row_value(sqldb_stmt *st, const db_family *f, int64_t *v)
{
    int64_t ms;

    if (sqldb_column_null(st, f->nlabels))
        return false;
    if (!f->ts_value) {
        *v = sqldb_column_int64(st, f->nlabels);
        return true;
    }
    /* Floor to whole seconds, also before 1970. */
    if (record_ts_parse(sqldb_column_text(st, f->nlabels), &ms) != 0)
        return false;
    *v = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    return true;
}

static int render_db_family(mbuf *b, sqldb *db, const db_family *f)
{
    sqldb_stmt *st = NULL;
    int64_t v;
    int rc;

    if (sqldb_prepare(db, f->sql, &st) != 0) {
        log_warn("metrics query failed family=%s error=%s", f->name, sqldb_errmsg(db));
        return -1;
    }
    family_header(b, f->name, f->type, f->help);
    while ((rc = sqldb_step(st)) == 1) {
        if (!row_value(st, f, &v))
            continue;
        mb_printf(b, "%s%s", f->name, f->nlabels ? "{" : "");
        for (int i = 0; i < f->nlabels; i++) {
            const char *t = sqldb_column_text(st, i);
            mb_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
            mb_label_value(b, t ? t : "");
            mb_printf(b, "\"");
        }
        mb_printf(b, "%s %" PRId64 "\n", f->nlabels ? "}" : "", v);
    }
    if (rc != 0)
        log_warn("metrics query failed family=%s error=%s", f->name, sqldb_errmsg(db));
    sqldb_finalize(st);
    return rc == 0 ? 0 : -1;
}

/* smp_quarantine_total{reason=<code>}: quarantine_counts holds one row per
 * reason text, and a text names the field, so a device inventing field
 * names would invent series (and a text cut inside a character would break
 * the scrape). The rows are summed per fixed reason code (reason.h) and
 * every code is written, 0 included: the series set never changes. */
static int render_quarantine(mbuf *b, sqldb *db)
{
    static const char sql[] = "SELECT reason, count FROM quarantine_counts";
    uint64_t sum[REASON_COUNT] = {0};
    sqldb_stmt *st = NULL;
    int rc;

    if (sqldb_prepare(db, sql, &st) != 0) {
        log_warn("metrics query failed family=smp_quarantine_total error=%s", sqldb_errmsg(db));
        return -1;
    }
    while ((rc = sqldb_step(st)) == 1) {
        int64_t n = sqldb_column_int64(st, 1);
        if (n > 0)
            sum[reason_code_of(sqldb_column_text(st, 0))] += (uint64_t)n;
    }
    if (rc != 0)
        log_warn("metrics query failed family=smp_quarantine_total error=%s", sqldb_errmsg(db));
    sqldb_finalize(st);
    if (rc != 0)
        return -1;
    family_header(b, "smp_quarantine_total", "counter",
                  "Quarantined messages by reason code (the quarantine table has each reason in "
                  "full)." FLEET_WIDE);
    for (int code = 0; code < REASON_COUNT; code++)
        mb_printf(b, "smp_quarantine_total{reason=\"%s\"} %" PRIu64 "\n",
                  reason_code_name((reason_code)code), sum[code]);
    return 0;
}

/* All database families from one snapshot, so they agree with each other.
 * On any failure the partial text is dropped. */
static int render_db(mbuf *b, sqldb *db)
{
    size_t start = b->len;
    int status = -1;

    if (!db)
        return -1;
    if (sqldb_begin(db, SQLDB_SNAPSHOT) != 0) {
        log_warn("metrics: cannot read the database: %s", sqldb_errmsg(db));
        return -1;
    }
    if (render_quarantine(b, db) != 0)
        goto cleanup;
    for (size_t i = 0; i < sizeof db_families / sizeof db_families[0]; i++)
        if (render_db_family(b, db, &db_families[i]) != 0)
            goto cleanup;
    status = 0;
cleanup:
    /* Read-only: ending it either way changes nothing. */
    sqldb_rollback(db);
    if (status != 0 && !b->oom)
        b->len = start;
    return status;
}

int metrics_render(sqldb *db, const metrics_counters *c, const char *collector, char **out,
                   size_t *len)
{
    mbuf b = {0};

    render_counters(&b, c, collector);
    int db_ok = render_db(&b, db) == 0;
    family_header(&b, "smp_metrics_db_ok", "gauge",
                  "1 when this collector's scrape read the database, 0 when it could not.");
    own_sample(&b, "smp_metrics_db_ok", collector, (uint_fast64_t)db_ok);
    if (b.oom) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

void metrics_counters_init(metrics_counters *c)
{
    atomic_init(&c->messages_received, 0);
    atomic_init(&c->records_stored, 0);
    atomic_init(&c->duplicates, 0);
    atomic_init(&c->conflicts, 0);
    atomic_init(&c->quarantined, 0);
    atomic_init(&c->groups_committed, 0);
    atomic_init(&c->commit_failures, 0);
    atomic_init(&c->group_conflicts, 0);
    atomic_init(&c->storage_failing, 0);
    atomic_init(&c->messages_waiting, 0);
    atomic_init(&c->checkpoints_verified, 0);
    atomic_init(&c->checkpoints_failed, 0);
}

/* ---- HTTP ------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    static char not_found[] = "not found: the collector serves only GET /metrics\n";
    static char not_allowed[] = "method not allowed: use GET\n";
    metrics_server *m = cls;
    char *body;
    size_t len;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req_cls;

    if (strcmp(url, "/metrics") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found), MHD_RESPMEM_PERSISTENT);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, strlen(not_allowed),
                     MHD_RESPMEM_PERSISTENT);
    if (metrics_render(m->db, m->counters, m->collector, &body, &len) != 0)
        return MHD_NO;
    return reply(conn, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE);
}

/* Fills addr from bind_addr:port; IPv6 when the address has a colon. */
static int parse_bind(const char *bind_addr, int port, struct sockaddr_storage *addr, bool *v6)
{
    memset(addr, 0, sizeof *addr);
    *v6 = strchr(bind_addr, ':') != NULL;
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, bind_addr, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, bind_addr, &a->sin_addr) == 1 ? 0 : -1;
}

int metrics_start(const char *bind_addr, int port, const char *db_target, const char *collector,
                  const metrics_counters *c, metrics_server **out, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    bool v6;
    metrics_server *m = NULL;
    char why[512];

    *out = NULL;
    if (port < 1 || port > 65535) {
        snprintf(err, errlen, "metrics_port: must be 1..65535 (0 turns metrics off)");
        return -1;
    }
    if (parse_bind(bind_addr, port, &addr, &v6) != 0) {
        snprintf(err, errlen, "metrics_bind: '%s' is not an IPv4 or IPv6 address", bind_addr);
        return -1;
    }
    if (!(m = calloc(1, sizeof *m))) {
        snprintf(err, errlen, "metrics: out of memory");
        return -1;
    }
    m->counters = c;
    snprintf(m->collector, sizeof m->collector, "%s", collector);
    if (db_open_readonly(db_target, &m->db, why, sizeof why) != 0) {
        snprintf(err, errlen, "metrics: %s", why);
        goto fail;
    }
    errno = 0;
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                     (v6 ? MHD_USE_IPv6 : 0),
                                 (uint16_t)port, NULL, NULL, on_request, m,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_LIMIT, 16u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(err, errlen, "metrics: cannot listen on %s port %d (%s); change metrics_port or metrics_bind",
                 bind_addr, port, errno ? strerror(errno) : "libmicrohttpd refused");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    sqldb_close(m->db);
    free(m);
    return -1;
}

void metrics_stop(metrics_server *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->daemon);
    sqldb_close(m->db);
    free(m);
}
