#include "collector_config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "committer.h"
#include "db.h"
#include "fscheck.h"
#include "policy.h"

#define F(field) offsetof(collector_config, field)

static_assert(COMMITTER_LANES_MAX == 8, "commit_lanes' range below is COMMITTER_LANES_MAX");

static const config_setting settings[] = {
    {"broker_host", CONFIG_STR, "127.0.0.1", 0, 0, F(broker_host), "broker host name or address"},
    {"broker_port", CONFIG_INT, "8883", 1, 65535, F(broker_port), "broker TLS port"},
    {"ca_file", CONFIG_PATH, NULL, 0, 0, F(ca_file), "CA certificate (PEM) of the fleet"},
    {"cert_file", CONFIG_PATH, NULL, 0, 0, F(cert_file), "collector certificate (PEM), CN smp-collector"},
    {"key_file", CONFIG_PATH, NULL, 0, 0, F(key_file), "collector private key (PEM)"},
    {"db_path", CONFIG_DATABASE, NULL, 0, 0, F(db_path), "SQLite database file, or postgresql:// URI of the fleet database (its password belongs in a password file: PGPASSFILE)"},
    {"keepalive_s", CONFIG_INT, "30", 5, 3600, F(keepalive_s), "MQTT keepalive in seconds"},
    /* A week: the broker queues for a collector that is down that long. */
    {"session_expiry_s", CONFIG_INT, "604800", 60, 4294967294LL, F(session_expiry_s), "broker keeps our session this long while we are away"},
    {"share_group", CONFIG_STR, "", 0, 0, F(share_group), "collectors with the same share_group share the devices' events (MQTT shared subscription, PostgreSQL db_path); empty: this collector takes them all"},
    /* 0: 2 on PostgreSQL, 1 on SQLite (collector_config_load). */
    {"commit_lanes", CONFIG_INT, "0", 0, 8, F(commit_lanes), "threads that store messages, each on its own database connection, a device's messages always on the same one (PostgreSQL; SQLite takes 1); 0: 2 on PostgreSQL, 1 on SQLite"},
    {"quarantine_max_rows", CONFIG_INT, "100000", 100, 100000000, F(quarantine_max_rows), "rejected messages kept"},
    {"quarantine_payload_bytes", CONFIG_INT, "4096", 0, 262144, F(quarantine_payload_bytes), "bytes of a rejected payload kept"},
    {"future_skew_s", CONFIG_INT, "86400", 0, 31536000, F(future_skew_s), "records timed further ahead of receive time are rejected"},
    {"policy_file", CONFIG_PATH, "", 0, 0, F(policy_file), "compliance rules policy (docs/rules.md); empty: built-in cdc defaults; SIGHUP re-reads it"},
    {"metrics_port", CONFIG_INT, "0", 0, 65535, F(metrics_port), "TCP port of the Prometheus /metrics endpoint; 0 turns it off"},
    /* Loopback: the metrics name clinics and devices and nobody is authenticated. */
    {"metrics_bind", CONFIG_STR, "127.0.0.1", 0, 0, F(metrics_bind), "address the /metrics endpoint listens on"},
    {"log_level", CONFIG_STR, "info", 0, 0, F(log_level), "error, warn, info or debug; SIGHUP re-reads it"},
    /* Notification sinks, each off while its url / command is empty. */
    {"webhook_url", CONFIG_STR, "", 0, 0, F(webhook_url), "http:// or https:// URL that alert events are POSTed to as signed JSON; empty: no webhook"},
    {"webhook_secret_file", CONFIG_PATH, "", 0, 0, F(webhook_secret_file), "file whose first line is the webhook's HMAC-SHA256 key"},
    {"webhook_filter", CONFIG_STR, "", 0, 0, F(webhook_filter), "which alert events the webhook gets (clinic=, rule=, min_severity=, event=); empty: all"},
    {"webhook_timeout_s", CONFIG_INT, "10", 1, 300, F(webhook_timeout_s), "one webhook request at most this long"},
    {"smtp_url", CONFIG_STR, "", 0, 0, F(smtp_url), "smtp://host:port or smtps://host:port of the mail server; empty: no e-mail"},
    {"smtp_from", CONFIG_STR, "", 0, 0, F(smtp_from), "sender address of alert e-mails"},
    {"smtp_to", CONFIG_STR, "", 0, 0, F(smtp_to), "recipient addresses, separated by ','"},
    {"smtp_credentials_file", CONFIG_PATH, "", 0, 0, F(smtp_credentials_file), "file whose first line is user:password for the mail server; empty: no login"},
    {"smtp_filter", CONFIG_STR, "", 0, 0, F(smtp_filter), "which alert events are mailed; empty: all"},
    {"smtp_timeout_s", CONFIG_INT, "30", 1, 300, F(smtp_timeout_s), "one mail delivery at most this long"},
    {"notify_command", CONFIG_STR, "", 0, 0, F(notify_command), "absolute path of a program (and its arguments, split on blanks, no shell) run with each alert event as JSON on stdin; empty: none"},
    {"notify_command_filter", CONFIG_STR, "", 0, 0, F(notify_command_filter), "which alert events run notify_command; empty: all"},
    {"notify_command_timeout_s", CONFIG_INT, "30", 1, 3600, F(notify_command_timeout_s), "notify_command is killed after this long"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

/* "collector.conf:7: " when key is set on a line of path, "collector.conf: " otherwise. */
static void where(const char *path, const char *key, char *out, size_t cap)
{
    int line = config_line_of(path, key);
    if (line > 0)
        snprintf(out, cap, "%s:%d: ", path, line);
    else
        snprintf(out, cap, "%s: ", path);
}

/* err = "<file>:<line>: <key>: <why>"; returns -1. */
static int bad(const char *path, const char *key, char *err, size_t errlen, const char *why)
{
    char at[CONFIG_STR_MAX + 32];
    where(path, key, at, sizeof at);
    snprintf(err, errlen, "%s%s: %s", at, key, why);
    return -1;
}

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* An address as SMTP takes it: no blanks, controls or angle brackets, one '@'. */
static bool address_ok(const char *a, size_t n)
{
    size_t ats = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',')
            return false;
        ats += c == '@';
    }
    return ats == 1 && a[0] != '@' && a[n - 1] != '@';
}

/* A filter setting parses; the sink it narrows must be on. */
static int check_filter(const char *path, const char *key, const char *text, bool sink_on,
                        const char *sink_key, char *err, size_t errlen)
{
    notify_filter f;
    char why[400], msg[600];

    if (text[0] && !sink_on) {
        snprintf(msg, sizeof msg, "set, but %s is empty so that sink is off; set %s or remove "
                 "this line", sink_key, sink_key);
        return bad(path, key, err, errlen, msg);
    }
    if (notify_filter_parse(text, &f, why, sizeof why) != 0) {
        snprintf(msg, sizeof msg, "%s (docs/collector.md, \"Notifications\")", why);
        return bad(path, key, err, errlen, msg);
    }
    return 0;
}

/* The sink settings, checked together so each error names its line. No
 * value of a secret-bearing setting is echoed (a URL may carry a token). */
static int check_sinks(const char *path, const collector_config *c, char *err, size_t errlen)
{
    bool web = c->webhook_url[0], mail = c->smtp_url[0], cmd = c->notify_command[0];

    if (web && !has_prefix(c->webhook_url, "http://") && !has_prefix(c->webhook_url, "https://"))
        return bad(path, "webhook_url", err, errlen, "must start with http:// or https://");
    if (web && !c->webhook_secret_file[0])
        return bad(path, "webhook_url", err, errlen,
                   "needs webhook_secret_file: every request is signed (write a long random "
                   "secret into a file only the collector's user reads)");
    if (!web && c->webhook_secret_file[0])
        return bad(path, "webhook_secret_file", err, errlen,
                   "set, but webhook_url is empty so the webhook is off");
    if (check_filter(path, "webhook_filter", c->webhook_filter, web, "webhook_url", err,
                     errlen) != 0)
        return -1;

    if (mail && !has_prefix(c->smtp_url, "smtp://") && !has_prefix(c->smtp_url, "smtps://"))
        return bad(path, "smtp_url", err, errlen,
                   "must start with smtp:// (STARTTLS when the server offers it; required with "
                   "credentials) or smtps://");
    if (mail && !address_ok(c->smtp_from, strlen(c->smtp_from)))
        return bad(path, "smtp_from", err, errlen,
                   "needs one address like alerts@clinic.example (required with smtp_url)");
    if (mail) {
        const char *p = c->smtp_to;
        int n = 0;
        while (*p) {
            size_t len = strcspn(p, ",");
            while (len && p[0] == ' ')
                p++, len--;
            while (len && p[len - 1] == ' ')
                len--;
            if (!address_ok(p, len))
                return bad(path, "smtp_to", err, errlen,
                           "list one or more addresses separated by ',' (required with smtp_url)");
            n++;
            p += strcspn(p, ",");
            p += *p == ',';
        }
        if (n == 0)
            return bad(path, "smtp_to", err, errlen,
                       "list one or more addresses separated by ',' (required with smtp_url)");
    }
    if (!mail && (c->smtp_from[0] || c->smtp_to[0] || c->smtp_credentials_file[0]))
        return bad(path, c->smtp_from[0] ? "smtp_from" : c->smtp_to[0] ? "smtp_to"
                                                                      : "smtp_credentials_file",
                   err, errlen, "set, but smtp_url is empty so e-mail is off");
    if (check_filter(path, "smtp_filter", c->smtp_filter, mail, "smtp_url", err, errlen) != 0)
        return -1;

    if (cmd && c->notify_command[0] != '/')
        return bad(path, "notify_command", err, errlen,
                   "give the program's absolute path (it is run without a shell; arguments "
                   "follow, separated by blanks)");
    return check_filter(path, "notify_command_filter", c->notify_command_filter, cmd,
                        "notify_command", err, errlen);
}

int collector_config_load(const char *path, collector_config *cfg, char *err, size_t errlen)
{
    char at[CONFIG_STR_MAX + 32];

    if (config_load(path, settings, cfg, err, errlen) != 0)
        return -1;
    if (!log_level_parse(cfg->log_level, &cfg->log_min)) {
        where(path, "log_level", at, sizeof at);
        snprintf(err, errlen, "%slog_level: '%s' is not a level; use error, warn, info or debug", at,
                 cfg->log_level);
        return -1;
    }
    /* A group name is one topic level of $share/<group>/... */
    if (cfg->share_group[0] && strpbrk(cfg->share_group, "/+#") != NULL) {
        where(path, "share_group", at, sizeof at);
        snprintf(err, errlen, "%sshare_group: '%s' must not hold '/', '+' or '#'", at,
                 cfg->share_group);
        return -1;
    }
    if (cfg->share_group[0] && !sqldb_is_postgres(cfg->db_path)) {
        where(path, "share_group", at, sizeof at);
        snprintf(err, errlen, "%sshare_group: collectors that share the load need one database "
                 "they all reach: set db_path to a postgresql:// URI, or remove share_group", at);
        return -1;
    }
    if (cfg->commit_lanes > 1 && !sqldb_is_postgres(cfg->db_path)) {
        where(path, "commit_lanes", at, sizeof at);
        snprintf(err, errlen, "%scommit_lanes: SQLite admits one writer at a time: set 1 (or 0, "
                 "the default), or set db_path to a postgresql:// URI", at);
        return -1;
    }
    if (cfg->commit_lanes == 0)
        cfg->commit_lanes = collector_config_default_lanes(cfg->db_path);
    return check_sinks(path, cfg, err, errlen);
}

int64_t collector_config_default_lanes(const char *db_path)
{
    return sqldb_is_postgres(db_path) ? 2 : 1;
}

void collector_config_sinks(const collector_config *cfg, notify_sinks *out)
{
    char why[400];
    notify_sink *w = &out->sink[NOTIFY_WEBHOOK], *m = &out->sink[NOTIFY_SMTP],
                *c = &out->sink[NOTIFY_COMMAND];

    memset(out, 0, sizeof *out);
    for (int k = 0; k < NOTIFY_NSINKS; k++)
        out->sink[k].kind = (notify_kind)k;
    /* The filters parsed in collector_config_load. */
    w->enabled = cfg->webhook_url[0] &&
                 notify_filter_parse(cfg->webhook_filter, &w->filter, why, sizeof why) == 0;
    snprintf(w->target, sizeof w->target, "%s", cfg->webhook_url);
    snprintf(w->secret_file, sizeof w->secret_file, "%s", cfg->webhook_secret_file);
    w->timeout_s = cfg->webhook_timeout_s;
    m->enabled = cfg->smtp_url[0] &&
                 notify_filter_parse(cfg->smtp_filter, &m->filter, why, sizeof why) == 0;
    snprintf(m->target, sizeof m->target, "%s", cfg->smtp_url);
    snprintf(m->secret_file, sizeof m->secret_file, "%s", cfg->smtp_credentials_file);
    snprintf(m->from, sizeof m->from, "%s", cfg->smtp_from);
    snprintf(m->to, sizeof m->to, "%s", cfg->smtp_to);
    m->timeout_s = cfg->smtp_timeout_s;
    c->enabled = cfg->notify_command[0] &&
                 notify_filter_parse(cfg->notify_command_filter, &c->filter, why, sizeof why) == 0;
    snprintf(c->target, sizeof c->target, "%s", cfg->notify_command);
    c->timeout_s = cfg->notify_command_timeout_s;
}

void collector_config_lock_path(const collector_config *cfg, char *out, size_t cap)
{
    if (sqldb_is_postgres(cfg->db_path))
        snprintf(out, cap, "%s", "");
    else
        snprintf(out, cap, "%s.lock", cfg->db_path);
}

int collector_config_check_identity(const collector_config *cfg, tls_identity *id, char *err,
                                    size_t errlen)
{
    if (tls_identity_load(cfg->cert_file, cfg->key_file, id, err, errlen) != 0)
        return -1;
    if (id->cn_count != 1 || strncmp(id->cn, COLLECTOR_CN_PREFIX, strlen(COLLECTOR_CN_PREFIX)) != 0) {
        snprintf(err, errlen,
                 "cert_file %s has the CN '%s', not a collector's: the broker grants the collector "
                 "topics only to a CN starting with '%s'; point cert_file and key_file at the "
                 "pair from smpctl pki issue-collector",
                 cfg->cert_file, id->cn, COLLECTOR_CN_PREFIX);
        return -1;
    }
    return 0;
}

/* A PostgreSQL db_path: the database answers with the schema this build
 * needs. */
static int check_postgres(const char *at, const collector_config *cfg, FILE *out)
{
    char err[1024];
    sqldb *db = NULL;

    if (db_open_readonly(cfg->db_path, &db, err, sizeof err) != 0) {
        fprintf(out, "%sdb_path: %s\n", at, err);
        return 1;
    }
    sqldb_close(db);
    return 0;
}

/* The database's directory must take the -wal, -shm and lock files too. */
static int check_db(const char *path, const collector_config *cfg, FILE *out)
{
    char dir[CONFIG_STR_MAX], why[256], at[CONFIG_STR_MAX + 32];
    int problems = 0;

    where(path, "db_path", at, sizeof at);
    if (sqldb_is_postgres(cfg->db_path))
        return check_postgres(at, cfg, out);
    fscheck_dirname(cfg->db_path, dir, sizeof dir);
    if (fscheck_writable_dir(dir, false, why, sizeof why) != 0) {
        fprintf(out, "%sdb_path %s: directory %s: %s; create it for the collector's user or "
                "choose another db_path\n", at, cfg->db_path, dir, why);
        problems++;
    }
    if (access(cfg->db_path, F_OK) == 0 && access(cfg->db_path, R_OK | W_OK) != 0) {
        fprintf(out, "%sdb_path %s: exists but is not readable and writable by this user\n", at,
                cfg->db_path);
        problems++;
    }
    return problems;
}

/* The files the sinks read at each delivery: readable and not empty now
 * (their content is never printed), and the hook executable. */
static int check_sink_files(const char *path, const collector_config *cfg, FILE *out)
{
    static const char *const keys[] = {"webhook_secret_file", "smtp_credentials_file"};
    const char *files[] = {cfg->webhook_secret_file, cfg->smtp_credentials_file};
    char at[CONFIG_STR_MAX + 32], secret[1024], err[CONFIG_STR_MAX + 200], prog[CONFIG_STR_MAX];
    int problems = 0;

    for (int i = 0; i < 2; i++) {
        if (!files[i][0])
            continue;
        if (notify_read_secret(files[i], keys[i], secret, sizeof secret, err, sizeof err) < 0) {
            where(path, keys[i], at, sizeof at);
            fprintf(out, "%s%s\n", at, err);
            problems++;
        } else if (i == 1 && !strchr(secret, ':')) {
            where(path, keys[i], at, sizeof at);
            fprintf(out, "%s%s %s: write user:password on its first line\n", at, keys[i],
                    files[i]);
            problems++;
        }
        explicit_bzero(secret, sizeof secret);
    }
    if (cfg->notify_command[0]) {
        snprintf(prog, sizeof prog, "%.*s", (int)strcspn(cfg->notify_command, " \t"),
                 cfg->notify_command);
        if (access(prog, X_OK) != 0) {
            where(path, "notify_command", at, sizeof at);
            fprintf(out, "%snotify_command: %s is not an executable file for this user\n", at,
                    prog);
            problems++;
        }
    }
    return problems;
}

int collector_config_check(const char *path, const collector_config *cfg, FILE *out)
{
    char err[1200], at[CONFIG_STR_MAX + 32];
    tls_identity id;
    policy *p = NULL;
    int problems = 0;

    if (collector_config_check_identity(cfg, &id, err, sizeof err) != 0) {
        fprintf(out, "%s: %s\n", path, err);
        problems++;
    }
    problems += tls_identity_report(path, &id, cfg->cert_file, cfg->ca_file, "smpctl pki issue-collector",
                                    time(NULL), out);
    if (cfg->policy_file[0]) {
        if (!(p = malloc(sizeof *p))) {
            fprintf(out, "%s: out of memory\n", path);
            return problems + 1;
        }
        if (policy_load(cfg->policy_file, p, err, sizeof err) != 0) {
            where(path, "policy_file", at, sizeof at);
            fprintf(out, "%spolicy_file: %s\n", at, err);
            problems++;
        }
        free(p);
    }
    return problems + check_db(path, cfg, out) + check_sink_files(path, cfg, out);
}

int collector_config_changed(const collector_config *a, const collector_config *b, char *out,
                             size_t cap)
{
    static const char *const reloadable[] = {"log_level", "policy_file", NULL};
    return config_changed(settings, a, b, reloadable, out, cap);
}
