#include "db.h"

#include <stdio.h>

/* Records are stored once per (device_id, seq). body is the record's
 * canonical JSON exactly as hashed, so the chain can be re-verified from the
 * store alone; hash is SHA-256(body) in hex. device_state caches the chain
 * head per device but is derivable from records (see DESIGN.md 4, scale-out). */
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
    "  UNIQUE (rule, device_id, cause));"
    "CREATE INDEX IF NOT EXISTS alerts_open ON alerts(clinic, cleared_at);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');";

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

int db_open(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;

    *out = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot open: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db, 10000);
    if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                    "PRAGMA foreign_keys=ON;", err, errlen) != 0)
        goto fail;
    if (db_exec(db, schema_sql, err, errlen) != 0)
        goto fail;
    *out = db;
    return 0;

fail:
    sqlite3_close(db);
    return -1;
}
