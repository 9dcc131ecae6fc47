#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The schema and its versions. db_migrate (smpctl db migrate) is the only
 * code that changes a database's schema: it creates a new database with
 * the full current schema, or brings an old one up step by step. Every
 * other open (db_open) runs no DDL and refuses a database whose
 * schema_version is not DB_SCHEMA_VERSION, naming the command to run.
 *
 *   version 1  the first release (c2fcfc1; tests/fixtures/schema_v1.sql)
 *   version 2  + device_cert_history, quarantined_records, chain_recoveries,
 *              superseded_records, alerts.state and alerts_pending, viewers,
 *              device_presence, notify_events and notify_outbox
 *
 * A version's new tables are defined once, below, and used both by the
 * full schema (schema_sql) and by the step that adds them (steps[]). */

/* The previous certificates of each device (smpctl device replace, pki
 * renew-device --db; admin/registry.c). registered_until is
 * when it stopped being devices.cert_pem (UTC, record ts format). The
 * collector and the audit export verify a checkpoint with one of them
 * when the current certificate does not (docs/collector.md,
 * "Certificate renewal and checkpoints"). */
#define SQL_DEVICE_CERT_HISTORY \
    "CREATE TABLE IF NOT EXISTS device_cert_history (" \
    "  device_id        TEXT NOT NULL," \
    "  cert_pem         TEXT NOT NULL," \
    "  registered_until TEXT NOT NULL);" \
    "CREATE INDEX IF NOT EXISTS device_cert_history_by_device" \
    "  ON device_cert_history(device_id, registered_until);"

/* One record of a registered device's message that breaks the record
 * schema while its seq is readable (collector/ingest.c): kept alone,
 * exactly as sent (body; hash = SHA-256 of it, which is what the agent
 * chained the next record to), never trimmed, so the chain can pass
 * over it and the record is not lost when the agent drops it on the
 * ack (docs/collector.md, "Bad input"). prev is "" when it had none
 * that is valid. */
#define SQL_QUARANTINED_RECORDS \
    "CREATE TABLE IF NOT EXISTS quarantined_records (" \
    "  device_id   TEXT NOT NULL," \
    "  seq         INTEGER NOT NULL," \
    "  received_at TEXT NOT NULL," \
    "  reason      TEXT NOT NULL," \
    "  prev        TEXT NOT NULL," \
    "  hash        TEXT NOT NULL," \
    "  body        BLOB NOT NULL," \
    "  PRIMARY KEY (device_id, seq)) WITHOUT ROWID;"

/* smpctl device recover-chain (admin/device_recover.c): who
 * recovered which device's chain from which seq, when and why; the
 * records it took out of records are kept in superseded_records under
 * its id, never deleted. */
#define SQL_CHAIN_RECOVERIES \
    "CREATE TABLE IF NOT EXISTS chain_recoveries (" \
    "  id            INTEGER PRIMARY KEY," \
    "  device_id     TEXT NOT NULL," \
    "  from_seq      INTEGER NOT NULL," \
    "  acked_seq     INTEGER NOT NULL," \
    "  records_moved INTEGER NOT NULL," \
    "  recovered_by  TEXT NOT NULL," \
    "  reason        TEXT NOT NULL," \
    "  recovered_at  TEXT NOT NULL);" \
    "CREATE INDEX IF NOT EXISTS chain_recoveries_by_device ON chain_recoveries(device_id, id);" \
    "CREATE TABLE IF NOT EXISTS superseded_records (" \
    "  recovery_id INTEGER NOT NULL REFERENCES chain_recoveries(id)," \
    "  device_id   TEXT NOT NULL," \
    "  seq         INTEGER NOT NULL," \
    "  ts          TEXT NOT NULL," \
    "  received_at TEXT NOT NULL," \
    "  type        TEXT NOT NULL," \
    "  prev        TEXT NOT NULL," \
    "  hash        TEXT NOT NULL," \
    "  body        TEXT NOT NULL," \
    "  PRIMARY KEY (recovery_id, device_id, seq)) WITHOUT ROWID;"

/* The checks waiting to settle (alerts.state 'pending', collector/store_rules_sqlite.c),
 * found by raised_at. */
#define SQL_ALERTS_PENDING \
    "CREATE INDEX IF NOT EXISTS alerts_pending ON alerts(raised_at) WHERE state = 'pending';"

/* Read-only MQTT identities for dashboards (smpctl pki issue-viewer,
 * admin/pki_viewer.c): certificate CN smp-viewer-<name>.
 * clinic NULL: every clinic (--all). smpctl broker acl grants each
 * exactly its alerts and its clinic's devices' status topics. */
#define SQL_VIEWERS \
    "CREATE TABLE IF NOT EXISTS viewers (" \
    "  name      TEXT PRIMARY KEY," \
    "  clinic    TEXT," \
    "  issued_at TEXT NOT NULL) WITHOUT ROWID;"

/* What each device last said on its status topic (collector/presence.c).
 * since: collector time the current state was first heard (a repeat of
 * the same state, e.g. the retained one on every collector restart,
 * keeps it); heard_at: the latest status message. backlog, head_seq,
 * agent_acked_seq and reported_at are the agent's own numbers, NULL
 * when its latest status did not carry them (plain "online"/"offline",
 * the will). */
#define SQL_DEVICE_PRESENCE \
    "CREATE TABLE IF NOT EXISTS device_presence (" \
    "  device_id       TEXT PRIMARY KEY," \
    "  state           TEXT NOT NULL," \
    "  since           TEXT NOT NULL," \
    "  heard_at        TEXT NOT NULL," \
    "  backlog         INTEGER," \
    "  head_seq        INTEGER," \
    "  agent_acked_seq INTEGER," \
    "  reported_at     TEXT) WITHOUT ROWID;"

/* The notification outbox (collector/notify_sender.c, docs/collector.md
 * "Notifications"): each alert event a sink's filter selects is written
 * here in the transaction that changed the alert, so nothing raised is
 * lost to a sink that is down or a collector that stops. notify_events
 * holds the event once (id: the stable event id receivers de-duplicate
 * on; AUTOINCREMENT so an id is never reused), notify_outbox one row per
 * sink until the sink accepts it (delivered_at), and its failed tries. */
#define SQL_NOTIFY_OUTBOX \
    "CREATE TABLE IF NOT EXISTS notify_events (" \
    "  id          INTEGER PRIMARY KEY AUTOINCREMENT," \
    "  alert_id    INTEGER NOT NULL," \
    "  event       TEXT NOT NULL,"       /* raised, escalated, cleared, withdrawn, reminder */ \
    "  created_at  TEXT NOT NULL,"       /* collector time of the change */ \
    "  payload     TEXT NOT NULL);"      /* the JSON delivered, event_id included */ \
    "CREATE INDEX IF NOT EXISTS notify_events_by_alert ON notify_events(alert_id, created_at);" \
    "CREATE TABLE IF NOT EXISTS notify_outbox (" \
    "  sink            TEXT NOT NULL,"   /* webhook, smtp, command */ \
    "  event_id        INTEGER NOT NULL REFERENCES notify_events(id)," \
    "  attempts        INTEGER NOT NULL DEFAULT 0," \
    "  last_attempt_at TEXT," \
    "  last_error      TEXT," \
    "  delivered_at    TEXT," \
    "  PRIMARY KEY (sink, event_id)) WITHOUT ROWID;" \
    "CREATE INDEX IF NOT EXISTS notify_outbox_pending ON notify_outbox(sink, event_id) " \
    "  WHERE delivered_at IS NULL;"

/* Records are stored once per (device_id, seq). body is the record's
 * canonical JSON exactly as hashed, so the chain can be re-verified from the
 * store alone; hash is SHA-256(body) in hex. device_state caches the chain
 * head per device but is derivable from records (docs/protocol.md).
 * This is the whole schema of DB_SCHEMA_VERSION, applied to a new database;
 * a change to it is a new version with its step in steps[]. */
static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta ("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS devices ("
    "  device_id  TEXT PRIMARY KEY,"
    "  clinic     TEXT NOT NULL,"
    "  model      TEXT,"
    "  serial     TEXT,"
    "  cert_pem   TEXT,"
    "  added_at   TEXT NOT NULL,"
    "  retired_at TEXT);"
    SQL_DEVICE_CERT_HISTORY
    "CREATE TABLE IF NOT EXISTS records ("
    "  device_id   TEXT NOT NULL,"
    "  seq         INTEGER NOT NULL,"
    "  ts          TEXT NOT NULL,"
    "  received_at TEXT NOT NULL,"
    "  type        TEXT NOT NULL,"
    "  prev        TEXT NOT NULL,"
    "  hash        TEXT NOT NULL,"
    "  body        TEXT NOT NULL,"
    "  PRIMARY KEY (device_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS records_by_type_ts ON records(type, ts);"
    "CREATE TABLE IF NOT EXISTS device_state ("
    "  device_id  TEXT PRIMARY KEY,"
    "  acked_seq  INTEGER NOT NULL,"
    "  acked_hash TEXT NOT NULL,"
    "  last_seen  TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS quarantine ("
    "  id          INTEGER PRIMARY KEY,"
    "  received_at TEXT NOT NULL,"
    "  device_id   TEXT,"
    "  topic       TEXT NOT NULL,"
    "  reason      TEXT NOT NULL,"
    "  payload     BLOB);"
    "CREATE TABLE IF NOT EXISTS quarantine_counts ("
    "  reason TEXT PRIMARY KEY, count INTEGER NOT NULL);"
    SQL_QUARANTINED_RECORDS
    SQL_CHAIN_RECOVERIES
    /* One row per cause: a rule raises an alert once for (device, cause)
     * however many messages show it; acked and cleared are its lifecycle. */
    "CREATE TABLE IF NOT EXISTS alerts ("
    "  id          INTEGER PRIMARY KEY,"
    "  rule        TEXT NOT NULL,"
    "  severity    TEXT NOT NULL,"
    "  device_id   TEXT NOT NULL,"
    "  clinic      TEXT NOT NULL,"
    "  cause       TEXT NOT NULL,"
    "  message     TEXT NOT NULL,"
    "  evidence    TEXT NOT NULL,"
    "  raised_at   TEXT NOT NULL,"
    "  acked_at    TEXT,"
    "  acked_by    TEXT,"
    "  cleared_at  TEXT,"
    /* NULL: an alert (open until cleared_at). 'pending': a check waiting
     * for facts from another device (policy settle_s), not an alert yet;
     * cleared_at is set so nothing counts it open. 'withdrawn': disproved
     * by later evidence (cleared_at is when); not a violation. */
    "  state       TEXT,"
    "  UNIQUE (rule, device_id, cause));"
    "CREATE INDEX IF NOT EXISTS alerts_open ON alerts(clinic, cleared_at);"
    SQL_ALERTS_PENDING
    /* Rule state (collector/rules*.c, docs/rules.md): what the incremental
     * rules need to remember, so no rule ever re-reads all records. Every
     * row is derived from stored records (device, seq name the record that
     * set it); replaying records in order rebuilds it. ts columns hold
     * device time, *_received_at collector time. */
    /* R1: the first session a cartridge was inserted in (uids are fleet-unique). */
    "CREATE TABLE IF NOT EXISTS rule_cartridges ("
    "  cartridge_uid TEXT PRIMARY KEY,"
    "  device_id     TEXT NOT NULL,"
    "  session_id    TEXT NOT NULL,"
    "  seq           INTEGER NOT NULL,"
    "  ts            TEXT NOT NULL) WITHOUT ROWID;"
    /* R4/R5/R7: the latest cycle (by device time) of each load of a clinic. */
    "CREATE TABLE IF NOT EXISTS rule_loads ("
    "  clinic        TEXT NOT NULL,"
    "  load_id       TEXT NOT NULL,"
    "  sterilizer_id TEXT NOT NULL,"
    "  device_id     TEXT NOT NULL,"
    "  seq           INTEGER NOT NULL,"
    "  ts            TEXT NOT NULL,"
    "  passed        INTEGER NOT NULL,"
    "  PRIMARY KEY (clinic, load_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rule_loads_by_sterilizer ON rule_loads(clinic, sterilizer_id, ts);"
    /* R5/R7: which session used a grip from which load (the recall list). */
    "CREATE TABLE IF NOT EXISTS rule_grips ("
    "  device_id  TEXT NOT NULL,"
    "  seq        INTEGER NOT NULL,"
    "  clinic     TEXT NOT NULL,"
    "  load_id    TEXT NOT NULL,"
    "  grip_id    TEXT NOT NULL,"
    "  session_id TEXT NOT NULL,"
    "  ts         TEXT NOT NULL,"
    "  PRIMARY KEY (device_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rule_grips_by_load ON rule_grips(clinic, load_id, ts);"
    /* R6/R7: per sterilizer of a clinic. home_device is the first device that
     * logged it: sterilizer alerts are filed under it so that their
     * (rule, device, cause) key never moves. */
    "CREATE TABLE IF NOT EXISTS rule_sterilizers ("
    "  clinic           TEXT NOT NULL,"
    "  sterilizer_id    TEXT NOT NULL,"
    "  home_device      TEXT NOT NULL,"
    "  first_seen_ts    TEXT NOT NULL,"
    "  last_negative_ts TEXT,"
    "  flagged_ts       TEXT,"
    "  PRIMARY KEY (clinic, sterilizer_id)) WITHOUT ROWID;"
    /* R8: whether a session is open (by seq, so a late session.start never
     * reopens a session whose end already arrived) and when the device was
     * last heard from. */
    "CREATE TABLE IF NOT EXISTS rule_devices ("
    "  device_id        TEXT PRIMARY KEY,"
    "  clinic           TEXT NOT NULL,"
    "  open_session     TEXT,"
    "  open_seq         INTEGER NOT NULL DEFAULT 0,"
    "  closed_seq       INTEGER NOT NULL DEFAULT 0,"
    "  last_received_at TEXT NOT NULL) WITHOUT ROWID;"
    /* Reports and audit exports (dashboard-export/report_data.c, export*.c).
     * records_compliance holds the bodies of the few compliance records
     * (not counters, not checkpoints: about 8 % of rows) in (device, type,
     * ts) order, so a clinic-year report reads them as one sequential
     * covering scan instead of ~100k scattered lookups (docs/reports.md).
     * Its WHERE is DB_COMPLIANCE_TYPES (db.h): a query must repeat it and
     * name the index (INDEXED BY) to use it. */
    "CREATE INDEX IF NOT EXISTS records_compliance ON records(device_id, type, ts, body)"
    " WHERE type IN " DB_COMPLIANCE_TYPES ";"
    "CREATE INDEX IF NOT EXISTS alerts_by_clinic_raised ON alerts(clinic, raised_at);"
    SQL_VIEWERS
    SQL_DEVICE_PRESENCE
    SQL_NOTIFY_OUTBOX;

int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* The database holds client and clinic records: it is created 0600 here
 * rather than by SQLite (0644 less the umask). SQLite gives the -wal and
 * -shm files the database file's mode, so they follow. An existing file
 * keeps the mode its owner chose. */
static int create_private(const char *path, char *err, size_t errlen)
{
    int fd;

    if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return 0;
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0 || errno == EEXIST) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    snprintf(err, errlen, "database %s: cannot create: %s; check that its directory exists and is "
             "writable", path, strerror(errno));
    return -1;
}

/* Adds column to table unless it is there: a version-1 database made by a
 * development build between the two releases may have it already. */
static int add_column(sqlite3 *db, const char *table, const char *column, const char *decl,
                      char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    char sql[256];
    int has = -1;

    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(q, 2, column, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        has = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (has < 0) {
        snprintf(err, errlen, "sqlite: %s columns: %s", table, sqlite3_errmsg(db));
        return -1;
    }
    if (has > 0)
        return 0;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
    return db_exec(db, sql, err, errlen);
}

/* 1 -> 2: everything added after the first release. CREATE ... IF NOT
 * EXISTS and add_column leave alone what a development build already made. */
static int step_1_to_2(sqlite3 *db, char *err, size_t errlen)
{
    if (add_column(db, "alerts", "state", "TEXT", err, errlen) != 0)
        return -1;
    return db_exec(db, SQL_DEVICE_CERT_HISTORY SQL_QUARANTINED_RECORDS SQL_CHAIN_RECOVERIES
                   SQL_ALERTS_PENDING SQL_VIEWERS SQL_DEVICE_PRESENCE SQL_NOTIFY_OUTBOX,
                   err, errlen);
}

/* steps[v] upgrades version v to v + 1; version 0 (an empty database) gets
 * schema_sql whole instead. */
typedef int (*db_step)(sqlite3 *db, char *err, size_t errlen);
static const db_step steps[DB_SCHEMA_VERSION] = {[1] = step_1_to_2};

/* The database's schema_version into *version: 0 when it has no schema
 * (an empty file, or one whose meta has no version). *tables: how many
 * tables it has, so that migrate can tell an empty file from someone
 * else's database. */
static int read_version(sqlite3 *db, const char *path, int *version, int *tables, char *err,
                        size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int has_meta = 0, rc;

    *version = 0;
    *tables = 0;
    rc = sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(name = 'meta'), 0) FROM sqlite_master "
                                "WHERE type = 'table'", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        *tables = sqlite3_column_int(q, 0);
        has_meta = sqlite3_column_int(q, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc == SQLITE_OK && has_meta) {
        rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q,
                                NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            const unsigned char *v = sqlite3_column_text(q, 0);
            *version = v ? atoi((const char *)v) : 0;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
        sqlite3_finalize(q);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", path,
                 sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static void newer_than_us(const char *path, int version, char *err, size_t errlen)
{
    snprintf(err, errlen, "database %s has schema version %d, newer than this smpfleet (%d): "
             "upgrade smpfleet", path, version, DB_SCHEMA_VERSION);
}

/* Opens path (never creating it) with a busy timeout: a collector may be
 * writing. */
static int open_file(const char *path, sqlite3 **db, char *err, size_t errlen)
{
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot open: %s", path,
                 *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*db, 10000);
    return 0;
}

/* Brings db from version from to DB_SCHEMA_VERSION inside the caller's
 * transaction. */
static int upgrade(sqlite3 *db, int from, char *err, size_t errlen)
{
    char sql[128];

    if (from == 0) {
        if (db_exec(db, schema_sql, err, errlen) != 0)
            return -1;
    } else {
        for (int v = from; v < DB_SCHEMA_VERSION; v++)
            if (steps[v](db, err, errlen) != 0)
                return -1;
    }
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '%d')",
             DB_SCHEMA_VERSION);
    return db_exec(db, sql, err, errlen);
}

int db_migrate(const char *path, int *from_version, int *to_version, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char why[512];
    int from = 0, tables = 0;
    bool in_tx = false;

    *from_version = *to_version = 0;
    if (create_private(path, err, errlen) != 0 || open_file(path, &db, err, errlen) != 0)
        return -1;
    /* WAL is a property of the file and cannot be set inside a transaction:
     * every smpfleet database has it from here on. */
    if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                why, sizeof why) != 0 ||
        db_exec(db, "BEGIN IMMEDIATE", why, sizeof why) != 0) {
        snprintf(err, errlen, "database %s: %s", path, why);
        goto fail;
    }
    in_tx = true;
    /* Read inside the write transaction: two migrates at once cannot both
     * apply the same step. */
    if (read_version(db, path, &from, &tables, err, errlen) != 0)
        goto fail;
    if (from > DB_SCHEMA_VERSION) {
        newer_than_us(path, from, err, errlen);
        goto fail;
    }
    if (from == 0 && tables > 0) {
        snprintf(err, errlen, "database %s has tables but no smpfleet schema_version: it is not an "
                 "smpfleet database; check the path", path);
        goto fail;
    }
    if (from < DB_SCHEMA_VERSION && upgrade(db, from, why, sizeof why) != 0) {
        snprintf(err, errlen, "database %s: migrating from schema version %d: %s; nothing was "
                 "changed", path, from, why);
        goto fail;
    }
    if (db_exec(db, "COMMIT", why, sizeof why) != 0) {
        snprintf(err, errlen, "database %s: %s; nothing was changed", path, why);
        goto fail;
    }
    sqlite3_close(db);
    *from_version = from;
    *to_version = DB_SCHEMA_VERSION;
    return 0;

fail:
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return -1;
}

int db_check_version(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int version = 0, tables = 0;

    if (read_version(db, path, &version, &tables, err, errlen) != 0)
        return -1;
    if (version > DB_SCHEMA_VERSION) {
        newer_than_us(path, version, err, errlen);
        return -1;
    }
    if (version < DB_SCHEMA_VERSION) {
        snprintf(err, errlen, "database %s has schema version %d, this smpfleet needs %d: run "
                 "smpctl db migrate --db %s", path, version, DB_SCHEMA_VERSION, path);
        return -1;
    }
    return 0;
}

int db_open(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;

    *out = NULL;
    /* A mistyped path must not become a new empty database, and only
     * smpctl db migrate makes one. */
    if (path[0] == '\0' || access(path, F_OK) != 0) {
        snprintf(err, errlen, "no database at %s: create it with smpctl db migrate --db %s", path,
                 path);
        return -1;
    }
    if (open_file(path, &db, err, errlen) != 0)
        return -1;
    /* The version is checked before anything is set, so that a refused
     * database is left exactly as it was. */
    if (db_check_version(db, path, err, errlen) != 0)
        goto fail;
    if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                err, errlen) != 0)
        goto fail;
    *out = db;
    return 0;

fail:
    sqlite3_close(db);
    return -1;
}

int db_error(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    const char *file = sqlite3_db_filename(db, "main");

    snprintf(err, errlen, "database %s: %s: %s", file && *file ? file : "(memory)", what,
             sqlite3_errmsg(db));
    return -1;
}

void db_column_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}
