#include "db.h"

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
 *   version 3  + clinics (name, address, licence, IANA timezone) and
 *              checkpoints (each received checkpoint and whether its
 *              signature is verified yet)
 *   version 4  + devices.kind, sterilizers (autoclaves as equipment of a
 *              clinic), rule_cycles and rule_tests (each cycle and test
 *              of a sterilizer once); checkpoints_pending in the
 *              verifier's order
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

/* The checks waiting to settle (alerts.state 'pending', collector/store_rules_sql.c),
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

/* The clinics of the fleet (smpctl clinic add|set|list, admin/): what a
 * report and an inspector's export name them, and the IANA timezone
 * (e.g. America/Los_Angeles) whose local calendar the rules and reports
 * use for that clinic (docs/rules.md). devices.clinic names a clinic_id;
 * a clinic not registered here is taken as UTC. */
#define SQL_CLINICS \
    "CREATE TABLE IF NOT EXISTS clinics (" \
    "  clinic_id  TEXT PRIMARY KEY," \
    "  name       TEXT NOT NULL," \
    "  address    TEXT NOT NULL DEFAULT ''," \
    "  licence    TEXT NOT NULL DEFAULT ''," \
    "  timezone   TEXT NOT NULL," \
    "  added_at   TEXT NOT NULL," \
    "  updated_at TEXT NOT NULL) WITHOUT ROWID;"

/* Every checkpoint a device sent that describes the record before it (the
 * checkpoint record is head_seq + 1; collector/integrity.c queues it in
 * the transaction that stores the record): its signature is verified off
 * the commit path (collector/verifier.c), so a stored and acked record can
 * have a checkpoint whose signature is still 'pending'; then 'verified' or
 * 'failed' (R9 against the checkpoint record), with checked_at. Pending
 * rows are the verifier's durable queue: a collector that stops before
 * verifying leaves them for the next one. The audit export reads state
 * (dashboard-export/export_chain.c). */
/* The verifier's queue in its order (received_at, then the key), so that
 * PostgreSQL reads the oldest pending rows off the index without sorting
 * them even when its statistics say none are pending. */
#define SQL_CHECKPOINTS_PENDING \
    "CREATE INDEX IF NOT EXISTS checkpoints_pending" \
    " ON checkpoints(received_at, device_id, head_seq) WHERE state = 'pending';"
#define SQL_CHECKPOINTS \
    "CREATE TABLE IF NOT EXISTS checkpoints (" \
    "  device_id   TEXT NOT NULL," \
    "  head_seq    INTEGER NOT NULL," \
    "  head_hash   TEXT NOT NULL," \
    "  sig         TEXT NOT NULL," \
    "  received_at TEXT NOT NULL," \
    "  state       TEXT NOT NULL," \
    "  checked_at  TEXT," \
    "  PRIMARY KEY (device_id, head_seq)) WITHOUT ROWID;" \
    SQL_CHECKPOINTS_PENDING

/* Autoclaves as equipment of their clinic (smpctl sterilizer add|list,
 * admin/sterilizers.c). sterilizer_id is the records' sterilizer_id and
 * is fleet-unique once registered. device_id names its own logger agent
 * (a devices row of kind 'sterilizer', the same id); NULL when the clinic
 * logs it through its machines. Alerts about a registered sterilizer are
 * filed under its id (docs/rules.md). */
#define SQL_STERILIZERS \
    "CREATE TABLE IF NOT EXISTS sterilizers (" \
    "  sterilizer_id TEXT PRIMARY KEY," \
    "  clinic        TEXT NOT NULL," \
    "  model         TEXT," \
    "  serial        TEXT," \
    "  device_id     TEXT," \
    "  added_at      TEXT NOT NULL," \
    "  retired_at    TEXT) WITHOUT ROWID;"

/* Each cycle of a clinic's sterilizer is one fact, whichever devices log
 * it (collector/rules_cycle.c): the record that stated it first, and the
 * SHA-256 of its content (every field but seq, ts and prev), so the same
 * cycle logged again is told apart from a different one under its
 * number. Cycles stored before version 4 have no row. */
#define SQL_RULE_CYCLES \
    "CREATE TABLE IF NOT EXISTS rule_cycles (" \
    "  clinic        TEXT NOT NULL," \
    "  sterilizer_id TEXT NOT NULL," \
    "  cycle_no      INTEGER NOT NULL," \
    "  device_id     TEXT NOT NULL," \
    "  seq           INTEGER NOT NULL," \
    "  ts            TEXT NOT NULL," \
    "  digest        TEXT NOT NULL," \
    "  PRIMARY KEY (clinic, sterilizer_id, cycle_no)) WITHOUT ROWID;"

/* A sterilizer's tests logged by several devices: the first record of
 * each content (kind, cycle, indicator lot, result, read time: digest as
 * in rule_cycles), so a positive result logged by the autoclave's agent
 * and by a machine is one R7. A test has no identity of its own (two
 * indicators of one lot may share a cycle), so other content is another
 * test, never a conflict. */
#define SQL_RULE_TESTS \
    "CREATE TABLE IF NOT EXISTS rule_tests (" \
    "  clinic        TEXT NOT NULL," \
    "  sterilizer_id TEXT NOT NULL," \
    "  digest        TEXT NOT NULL," \
    "  device_id     TEXT NOT NULL," \
    "  seq           INTEGER NOT NULL," \
    "  ts            TEXT NOT NULL," \
    "  PRIMARY KEY (clinic, sterilizer_id, digest)) WITHOUT ROWID;"

/* Reports and audit exports (dashboard-export/report_data.c, export*.c):
 * records_compliance holds the few compliance records (not counters, not
 * checkpoints: about 8 % of rows) in (device, type, ts) order. On SQLite it
 * also covers their bodies, so a clinic-year report reads them as one
 * sequential scan instead of ~100k scattered lookups (docs/reports.md); a
 * query must repeat its WHERE (db_compliance_type_term) and name it
 * (db_compliance_index). PostgreSQL keeps bodies out of the key (a btree
 * entry is limited to about 2.7 kB) and picks the index by itself. */
#define SQL_COMPLIANCE_INDEX_SQLITE \
    "CREATE INDEX IF NOT EXISTS records_compliance ON records(device_id, type, ts, body)" \
    " WHERE type NOT IN " DB_NOT_COMPLIANCE_TYPES ";"
#define SQL_COMPLIANCE_INDEX_PG \
    "CREATE INDEX IF NOT EXISTS records_compliance ON records(device_id, type, ts)" \
    " WHERE type IN " DB_COMPLIANCE_TYPES ";"

/* PostgreSQL has no json_extract; the rules' queries use it on record
 * bodies (always canonical JSON objects) with '$.key' paths, for text. */
#define SQL_JSON_EXTRACT_PG \
    "CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS text" \
    " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE" \
    " AS $$ SELECT doc::jsonb #>> string_to_array(substr(path, 3), '.') $$;"

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
    "  retired_at TEXT,"
    /* 'machine' or 'sterilizer' (an autoclave's logger agent); last, as
     * version 4 added it to older stores. */
    "  kind       TEXT NOT NULL DEFAULT 'machine');"
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
     * logged it: alerts about a sterilizer nobody registered (table
     * sterilizers) are filed under it, so that their (rule, device, cause)
     * key stays put until smpctl sterilizer add moves them to the
     * sterilizer's own id. */
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
    "CREATE INDEX IF NOT EXISTS alerts_by_clinic_raised ON alerts(clinic, raised_at);"
    SQL_VIEWERS
    SQL_DEVICE_PRESENCE
    SQL_NOTIFY_OUTBOX
    SQL_CLINICS
    SQL_CHECKPOINTS
    SQL_STERILIZERS
    SQL_RULE_CYCLES
    SQL_RULE_TESTS;

/* The schema above is written in SQLite's spelling. PostgreSQL gets the
 * same text with these words rewritten (outside string literals): every
 * integer is 64-bit, text compares bytewise as in SQLite (so reports sort
 * the same from either store), ids are identities (never reused, like
 * AUTOINCREMENT), blobs are bytea, and WITHOUT ROWID means nothing. */
static const struct {
    const char *sqlite, *pg;
} pg_words[] = {
    {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
    {"INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
    {"INTEGER", "BIGINT"},
    {"TEXT", "TEXT COLLATE \"C\""},
    {"BLOB", "BYTEA"},
    {" WITHOUT ROWID", ""},
};

static bool is_word_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* sql rewritten for db's dialect into a new string (caller frees), or NULL
 * when out of memory. */
static char *dialect(sqldb *db, const char *sql)
{
    const size_t nwords = sizeof pg_words / sizeof pg_words[0];
    char *out = NULL;
    size_t len = 0;
    bool quoted = false;
    FILE *f;

    if (sqldb_kind_of(db) == SQLDB_SQLITE)
        return strdup(sql);
    if (!(f = open_memstream(&out, &len)))
        return NULL;
    for (const char *p = sql; *p;) {
        size_t i = nwords;
        if (*p == '\'')
            quoted = !quoted;
        if (!quoted && (p == sql || !is_word_char(p[-1])))
            for (i = 0; i < nwords; i++) {
                size_t w = strlen(pg_words[i].sqlite);
                if (strncmp(p, pg_words[i].sqlite, w) == 0 && !is_word_char(p[w]))
                    break;
            }
        if (i < nwords) {
            fputs(pg_words[i].pg, f);
            p += strlen(pg_words[i].sqlite);
        } else {
            fputc(*p++, f);
        }
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Runs schema SQL (in SQLite's spelling) on db in its dialect. */
static int exec_schema(sqldb *db, const char *sql, char *err, size_t errlen)
{
    char *text = dialect(db, sql);
    int rc;

    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = sqldb_exec(db, text);
    free(text);
    if (rc != 0)
        snprintf(err, errlen, "%s", sqldb_errmsg(db));
    return rc;
}

/* Adds column to table unless it is there: a version-1 database made by a
 * development build between the two releases may have it already. */
static int add_column(sqldb *db, const char *table, const char *column, const char *decl,
                      char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    char sql[256];
    int has = -1;

    if (sqldb_kind_of(db) == SQLDB_POSTGRES) {
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", table, column,
                 decl);
        return exec_schema(db, sql, err, errlen);
    }
    if (sqldb_prepare(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", &q) == 0 &&
        sqldb_bind_text(q, 1, table) == 0 && sqldb_bind_text(q, 2, column) == 0 &&
        sqldb_step(q) == 1)
        has = (int)sqldb_column_int64(q, 0);
    sqldb_finalize(q);
    if (has < 0) {
        snprintf(err, errlen, "%s columns: %s", table, sqldb_errmsg(db));
        return -1;
    }
    if (has > 0)
        return 0;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
    return exec_schema(db, sql, err, errlen);
}

/* 1 -> 2: everything added after the first release. CREATE ... IF NOT
 * EXISTS and add_column leave alone what a development build already made. */
static int step_1_to_2(sqldb *db, char *err, size_t errlen)
{
    if (add_column(db, "alerts", "state", "TEXT", err, errlen) != 0)
        return -1;
    return exec_schema(db, SQL_DEVICE_CERT_HISTORY SQL_QUARANTINED_RECORDS SQL_CHAIN_RECOVERIES
                       SQL_ALERTS_PENDING SQL_VIEWERS SQL_DEVICE_PRESENCE SQL_NOTIFY_OUTBOX,
                       err, errlen);
}

/* 2 -> 3: clinics and checkpoints. */
static int step_2_to_3(sqldb *db, char *err, size_t errlen)
{
    return exec_schema(db, SQL_CLINICS SQL_CHECKPOINTS, err, errlen);
}

/* steps[v] upgrades version v to v + 1; version 0 (an empty database) gets
 * schema_sql whole instead. */
typedef int (*db_step)(sqldb *db, char *err, size_t errlen);
/* 3 -> 4: device kinds, sterilizers as equipment, one row per cycle and
 * test, and the verifier's queue index in its full order. */
static int step_3_to_4(sqldb *db, char *err, size_t errlen)
{
    if (add_column(db, "devices", "kind", "TEXT NOT NULL DEFAULT 'machine'", err, errlen) != 0)
        return -1;
    return exec_schema(db, "DROP INDEX IF EXISTS checkpoints_pending;" SQL_CHECKPOINTS_PENDING
                       SQL_STERILIZERS SQL_RULE_CYCLES SQL_RULE_TESTS, err, errlen);
}

/* 4 -> 5: on SQLite, records_compliance written with the two types it
 * leaves out (the same rows: db.h). Rebuilt from the records: 1 s for a
 * clinic-year (2.7 million records, 1.7 GB). PostgreSQL's stays as it is. */
static int step_4_to_5(sqldb *db, char *err, size_t errlen)
{
    if (sqldb_kind_of(db) == SQLDB_POSTGRES)
        return 0;
    return exec_schema(db, "DROP INDEX IF EXISTS records_compliance;" SQL_COMPLIANCE_INDEX_SQLITE,
                       err, errlen);
}

/* 5 -> 6: records lose their index by (type, ts). It cost every stored
 * record an index entry (a fifth of the commit path's time) and served
 * only the spore rules' queries, which read records_compliance by device
 * instead. */
static int step_5_to_6(sqldb *db, char *err, size_t errlen)
{
    return exec_schema(db, "DROP INDEX IF EXISTS records_by_type_ts;", err, errlen);
}

static const db_step steps[DB_SCHEMA_VERSION] = {
    [1] = step_1_to_2, [2] = step_2_to_3, [3] = step_3_to_4, [4] = step_4_to_5,
    [5] = step_5_to_6};

/* The database's schema_version into *version: 0 when it has no schema
 * (an empty database, or one whose meta has no version). *tables: how many
 * tables it has, so that migrate can tell an empty database from someone
 * else's. */
static int read_version(sqldb *db, int *version, int *tables, char *err, size_t errlen)
{
    static const char *const count_sqlite =
        "SELECT count(*), COALESCE(SUM(CASE WHEN name = 'meta' THEN 1 ELSE 0 END), 0) "
        "FROM sqlite_master WHERE type = 'table'";
    static const char *const count_pg =
        "SELECT count(*), COALESCE(SUM(CASE WHEN table_name = 'meta' THEN 1 ELSE 0 END), 0) "
        "FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE'";
    sqldb_stmt *q = NULL;
    int64_t has_meta = 0;
    int rc;

    *version = 0;
    *tables = 0;
    rc = sqldb_prepare(db, sqldb_kind_of(db) == SQLDB_SQLITE ? count_sqlite : count_pg, &q);
    if (rc == 0 && (rc = sqldb_step(q)) == 1) {
        *tables = (int)sqldb_column_int64(q, 0);
        has_meta = sqldb_column_int64(q, 1);
        rc = 0;
    }
    sqldb_finalize(q);
    q = NULL;
    if (rc == 0 && has_meta) {
        rc = sqldb_prepare(db, "SELECT value FROM meta WHERE key = 'schema_version'", &q);
        if (rc == 0 && (rc = sqldb_step(q)) == 1) {
            const char *v = sqldb_column_text(q, 0);
            *version = v ? atoi(v) : 0;
            rc = 0;
        }
        sqldb_finalize(q);
    }
    if (rc != 0) {
        snprintf(err, errlen, "database %s: cannot read its schema version: %s", sqldb_name(db),
                 sqldb_errmsg(db));
        return -1;
    }
    return 0;
}

static void newer_than_us(sqldb *db, int version, char *err, size_t errlen)
{
    snprintf(err, errlen, "database %s has schema version %d, newer than this smpfleet (%d): "
             "upgrade smpfleet", sqldb_name(db), version, DB_SCHEMA_VERSION);
}

/* Brings db from version from to DB_SCHEMA_VERSION inside the caller's
 * transaction. */
static int upgrade(sqldb *db, int from, char *err, size_t errlen)
{
    char sql[160];

    if (from == 0) {
        bool pg = sqldb_kind_of(db) == SQLDB_POSTGRES;
        if ((pg && sqldb_exec(db, SQL_JSON_EXTRACT_PG) != 0 &&
             snprintf(err, errlen, "%s", sqldb_errmsg(db)) >= 0) ||
            exec_schema(db, schema_sql, err, errlen) != 0 ||
            exec_schema(db, pg ? SQL_COMPLIANCE_INDEX_PG : SQL_COMPLIANCE_INDEX_SQLITE, err,
                        errlen) != 0)
            return -1;
    } else {
        for (int v = from; v < DB_SCHEMA_VERSION; v++)
            if (steps[v](db, err, errlen) != 0)
                return -1;
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO meta(key, value) VALUES ('schema_version', '%d') "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             DB_SCHEMA_VERSION);
    return exec_schema(db, sql, err, errlen);
}

/* Appends what to do to err, for a target that could not be opened: a
 * missing SQLite file is made by smpctl db migrate; a PostgreSQL database
 * by its administrator, then migrate. */
static void open_hint(const char *target, char *err, size_t errlen)
{
    size_t n = strlen(err);
    char name[512];

    sqldb_mask(target, name, sizeof name);
    if (!sqldb_is_postgres(target) && access(target, F_OK) == 0)
        return;  /* there is a file: the reason given is the whole story */
    if (sqldb_is_postgres(target))
        snprintf(err + n, errlen - n, "; check the URI, the server and the role's password "
                 "(PGPASSFILE), create the database (createdb) and run smpctl db migrate --db %s",
                 name);
    else
        snprintf(err + n, errlen - n, ": create it with smpctl db migrate --db %s", name);
}

int db_migrate(const char *target, int *from_version, int *to_version, char *err, size_t errlen)
{
    sqldb *db = NULL;
    char why[512];
    int from = 0, tables = 0;
    bool in_tx = false;

    *from_version = *to_version = 0;
    if (sqldb_open(target, SQLDB_CREATE, &db, err, errlen) != 0) {
        if (sqldb_is_postgres(target))
            open_hint(target, err, errlen);
        return -1;
    }
    /* SQLite: WAL is a property of the file (set by sqldb_open) and cannot
     * change inside a transaction. The lock makes two migrations at once on
     * PostgreSQL apply each step once (SQLite: BEGIN IMMEDIATE does). */
    if (sqldb_begin(db, SQLDB_WRITE) != 0 || sqldb_lock(db, "smpfleet-schema") != 0) {
        snprintf(err, errlen, "database %s: %s", sqldb_name(db), sqldb_errmsg(db));
        goto fail;
    }
    in_tx = true;
    if (read_version(db, &from, &tables, err, errlen) != 0)
        goto fail;
    if (from > DB_SCHEMA_VERSION) {
        newer_than_us(db, from, err, errlen);
        goto fail;
    }
    if (from == 0 && tables > 0) {
        snprintf(err, errlen, "database %s has tables but no smpfleet schema_version: it is not an "
                 "smpfleet database; check the %s", sqldb_name(db),
                 sqldb_is_postgres(target) ? "URI" : "path");
        goto fail;
    }
    if (from < DB_SCHEMA_VERSION && upgrade(db, from, why, sizeof why) != 0) {
        snprintf(err, errlen, "database %s: migrating from schema version %d: %s; nothing was "
                 "changed", sqldb_name(db), from, why);
        goto fail;
    }
    if (sqldb_commit(db) != 0) {
        snprintf(err, errlen, "database %s: %s; nothing was changed", sqldb_name(db),
                 sqldb_errmsg(db));
        goto fail;
    }
    sqldb_close(db);
    *from_version = from;
    *to_version = DB_SCHEMA_VERSION;
    return 0;

fail:
    if (in_tx)
        sqldb_rollback(db);
    sqldb_close(db);
    return -1;
}

/* Refuses a database whose schema is not DB_SCHEMA_VERSION, naming the
 * command that fixes it. */
static int check_version(sqldb *db, char *err, size_t errlen)
{
    int version = 0, tables = 0;

    if (read_version(db, &version, &tables, err, errlen) != 0)
        return -1;
    if (version > DB_SCHEMA_VERSION) {
        newer_than_us(db, version, err, errlen);
        return -1;
    }
    if (version < DB_SCHEMA_VERSION) {
        snprintf(err, errlen, "database %s has schema version %d, this smpfleet needs %d: run "
                 "smpctl db migrate --db %s", sqldb_name(db), version, DB_SCHEMA_VERSION,
                 sqldb_name(db));
        return -1;
    }
    return 0;
}

static int open_checked(const char *target, int flags, sqldb **out, char *err, size_t errlen)
{
    *out = NULL;
    if (sqldb_open(target, flags, out, err, errlen) != 0) {
        open_hint(target, err, errlen);
        return -1;
    }
    /* The version is checked before anything is written, so that a
     * refused database is left exactly as it was. */
    if (check_version(*out, err, errlen) != 0) {
        sqldb_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int db_open(const char *target, sqldb **out, char *err, size_t errlen)
{
    return open_checked(target, 0, out, err, errlen);
}

int db_open_readonly(const char *target, sqldb **out, char *err, size_t errlen)
{
    return open_checked(target, SQLDB_READONLY, out, err, errlen);
}

int db_error(sqldb *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "database %s: %s: %s", sqldb_name(db), what, sqldb_errmsg(db));
    return -1;
}

int db_begin_write(sqldb *db, const char *what, char *err, size_t errlen)
{
    return sqldb_begin(db, SQLDB_WRITE) == 0 ? 0 : db_error(db, what, err, errlen);
}

int db_end_write(sqldb *db, int rc, const char *what, char *err, size_t errlen)
{
    if (rc == 0 && sqldb_commit(db) == 0)
        return 0;
    if (rc == 0)
        rc = db_error(db, what, err, errlen);
    sqldb_rollback(db);
    return rc;
}

const char *const db_tables[] = {
    "meta", "devices", "device_cert_history", "records", "device_state", "quarantine",
    "quarantine_counts", "quarantined_records", "chain_recoveries", "superseded_records",
    "alerts", "rule_cartridges", "rule_loads", "rule_grips", "rule_sterilizers", "rule_devices",
    "viewers", "device_presence", "notify_events", "notify_outbox", "clinics", "checkpoints",
    "sterilizers", "rule_cycles", "rule_tests", NULL};

/* The tables whose id is generated (INTEGER PRIMARY KEY in the schema). */
static const char *const id_tables[] = {"quarantine", "chain_recoveries", "alerts",
                                        "notify_events"};

int db_resync_ids(sqldb *db, char *err, size_t errlen)
{
    char sql[256];

    if (sqldb_kind_of(db) == SQLDB_SQLITE)
        return 0;
    for (size_t i = 0; i < sizeof id_tables / sizeof id_tables[0]; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                 "(SELECT COALESCE(MAX(id), 0) + 1 FROM %s), false)",
                 id_tables[i], id_tables[i]);
        if (sqldb_exec(db, sql) != 0)
            return db_error(db, id_tables[i], err, errlen);
    }
    return 0;
}

const char *db_compliance_type_term(sqldb *db)
{
    return sqldb_kind_of(db) == SQLDB_SQLITE ? "type NOT IN " DB_NOT_COMPLIANCE_TYPES
                                             : "type IN " DB_COMPLIANCE_TYPES;
}

const char *db_compliance_index(sqldb *db)
{
    return sqldb_kind_of(db) == SQLDB_SQLITE ? " INDEXED BY records_compliance" : "";
}
