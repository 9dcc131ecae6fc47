/* sqldb_sqlite: the SQLite implementation of the storage seam. One writer
 * at a time (BEGIN IMMEDIATE), so sqldb_lock has nothing to add; readers
 * never block the writer (WAL). */
#include "sqldb_int.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Short statements run again and again — a savepoint per message, its
 * release, BEGIN and COMMIT per group — are kept prepared (lite_exec):
 * parsing them each time was about 5 % of the collector's commit. */
#define EXEC_KEPT 6
#define EXEC_KEPT_SQL 64

typedef struct lite_db {
    struct sqldb base;
    sqlite3 *h;
    struct {
        char sql[EXEC_KEPT_SQL];
        sqlite3_stmt *q;
    } kept[EXEC_KEPT];
    unsigned next_kept;           /* the slot to reuse next */
} lite_db;

typedef struct lite_stmt {
    struct sqldb_stmt base;
    sqlite3_stmt *q;
} lite_stmt;

static sqlite3 *handle(sqldb *db) { return ((lite_db *)db)->h; }
static sqlite3_stmt *query(sqldb_stmt *st) { return ((lite_stmt *)st)->q; }

/* Records SQLite's reason for the last failure on db. */
static int failed(sqldb *db, const char *what)
{
    int code = sqlite3_extended_errcode(handle(db)) & 0xff;
    return sqldb__fail(db, code == SQLITE_BUSY || code == SQLITE_LOCKED, what,
                       sqlite3_errmsg(handle(db)));
}

/* Creates path with mode 0600 if it does not exist, so that the database
 * (which holds the fleet's records) is private from its first byte. */
static int create_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "database %s: cannot create: %m; check that its directory exists and is writable", path);
        return -1;
    }
    close(fd);
    return 0;
}

/* The WAL's size, in bytes, at which a writer checkpoints it. */
#define WAL_CHECKPOINT_BYTES (32 * 1024 * 1024)

/* Sets h's automatic checkpoints to WAL_CHECKPOINT_BYTES in its database's
 * pages (32 KiB for a database this build creates, 8 or 4 KiB for older
 * ones). */
static int set_wal_checkpoint(sqlite3 *h)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(h, "PRAGMA page_size", -1, &q, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW && sqlite3_column_int(q, 0) > 0)
        rc = sqlite3_wal_autocheckpoint(h, WAL_CHECKPOINT_BYTES / sqlite3_column_int(q, 0));
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_ERROR;
    sqlite3_finalize(q);
    return rc;
}

static int lite_open(const char *target, int flags, sqldb **out, char *err, size_t errlen)
{
    lite_db *db;
    int oflags = (flags & SQLDB_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;

    /* A mistyped path must not become a new empty database. */
    if (target[0] == '\0' || ((flags & SQLDB_CREATE) == 0 && access(target, F_OK) != 0)) {
        snprintf(err, errlen, "no database at %s", target[0] ? target : "\"\"");
        return -1;
    }
    if ((flags & SQLDB_CREATE) && create_private(target, err, errlen) != 0)
        return -1;
    db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errlen, "database %s: out of memory", target);
        return -1;
    }
    db->base.kind = SQLDB_SQLITE;
    if (sqlite3_open_v2(target, &db->h, oflags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot open: %s", target,
                 db->h ? sqlite3_errmsg(db->h) : "out of memory");
        goto fail;
    }
    /* A collector may be writing: wait for it rather than fail. */
    sqlite3_busy_timeout(db->h, 10000);
    /* A database created here gets 32 KiB pages (4 KiB by default): fewer
     * pages to split, write to the WAL and checkpoint per record — the
     * collector's burst took 13 % less time with 8 KiB pages, and 10 % less
     * again with 32 KiB (bench_ingest; the clinic-year report and export
     * no slower). Only before the first write, so before WAL; on an
     * existing database it changes nothing. */
    if ((flags & SQLDB_CREATE) &&
        sqlite3_exec(db->h, "PRAGMA page_size=32768;", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: cannot set it up: %s", target, sqlite3_errmsg(db->h));
        goto fail;
    }
    /* journal_mode=WAL is a property of the file, set once by the schema's
     * owner; a read-only connection cannot set it. A writer keeps its
     * savepoints' journals in memory (temp_store): the collector undoes a
     * failed message alone with a savepoint per message, and on a file
     * each page a message touched was first written to /var/tmp, a third of
     * the committing thread's time. Its page cache may grow to 64 MiB
     * (cache_size; 2 MiB by default): a burst's group of ~4000 records
     * touches more pages than that, and every page evicted was read again
     * with a system call. And it checkpoints the WAL into the database
     * once it holds 32 MiB (WAL_CHECKPOINT_BYTES; SQLite's default is
     * 1,000 pages, 4 MiB of 4 KiB ones): a page a burst changes in every
     * group is then copied once per checkpoint instead of once every group
     * or two (about 10 % of a burst's time; the WAL file needs that much
     * free disk, whatever the page size). A read-only connection (reports)
     * keeps the defaults: its big sorts stay on disk. */
    if (sqlite3_exec(db->h,
                     (flags & SQLDB_READONLY)
                         ? "PRAGMA foreign_keys=ON;"
                         : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                           " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        (!(flags & SQLDB_READONLY) && set_wal_checkpoint(db->h) != SQLITE_OK)) {
        snprintf(err, errlen, "database %s: cannot set it up: %s", target, sqlite3_errmsg(db->h));
        goto fail;
    }
    *out = &db->base;
    return 0;

fail:
    sqlite3_close(db->h);
    free(db);
    return -1;
}

static void lite_close(sqldb *db)
{
    lite_db *l = (lite_db *)db;

    for (int i = 0; i < EXEC_KEPT; i++)
        sqlite3_finalize(l->kept[i].q);
    sqlite3_close(l->h);
    free(db);
}

/* The kept statement of sql: found, or prepared into the slot used
 * longest ago. NULL when sql is long or more than one statement (or does
 * not prepare): sqlite3_exec runs it, and says why it fails. */
static sqlite3_stmt *kept_statement(lite_db *l, const char *sql)
{
    size_t len = strlen(sql);
    sqlite3_stmt *q = NULL;
    const char *tail = NULL;

    if (len >= EXEC_KEPT_SQL)
        return NULL;
    for (int i = 0; i < EXEC_KEPT; i++)
        if (l->kept[i].q && strcmp(l->kept[i].sql, sql) == 0)
            return l->kept[i].q;
    if (sqlite3_prepare_v3(l->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, &tail) != SQLITE_OK ||
        !q || (tail && *tail)) {
        sqlite3_finalize(q);
        return NULL;
    }
    unsigned slot = l->next_kept++ % EXEC_KEPT;
    sqlite3_finalize(l->kept[slot].q);
    memcpy(l->kept[slot].sql, sql, len + 1);
    l->kept[slot].q = q;
    return q;
}

static int lite_exec(sqldb *db, const char *sql)
{
    sqlite3_stmt *q = kept_statement((lite_db *)db, sql);
    int rc;

    if (!q) {
        if (sqlite3_exec(handle(db), sql, NULL, NULL, NULL) != SQLITE_OK)
            return failed(db, "statement failed");
    } else {
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            ;
        /* The step's reason is read before the reset. */
        rc = rc == SQLITE_DONE ? 0 : failed(db, "statement failed");
        sqlite3_reset(q);
        if (rc != 0)
            return rc;
    }
    db->changes = sqlite3_changes(handle(db));
    return 0;
}

static int lite_begin(sqldb *db, int mode)
{
    return lite_exec(db, (mode & SQLDB_WRITE) ? "BEGIN IMMEDIATE" : "BEGIN");
}

/* BEGIN IMMEDIATE already holds the one write lock; refusing a lock
 * outside a transaction keeps code that forgot sqldb_begin from passing
 * here and failing only on PostgreSQL. */
static int lite_lock(sqldb *db, const char *key, bool shared)
{
    (void)shared;
    db->statements++;
    if (sqlite3_get_autocommit(handle(db)))
        return sqldb__fail(db, false, "a lock needs a transaction (sqldb_begin first)", key);
    return 0;
}

static int lite_try_lock_session(sqldb *db, const char *key, bool *held)
{
    (void)db;
    (void)key;
    *held = true;
    return 0;
}

static int lite_unlock_session(sqldb *db, const char *key)
{
    (void)db;
    (void)key;
    return 0;
}

static int lite_prepare(sqldb *db, const char *sql, sqldb_stmt **out)
{
    lite_stmt *st = calloc(1, sizeof *st);

    if (!st)
        return sqldb__fail(db, false, "out of memory", NULL);
    st->base.db = db;
    if (sqlite3_prepare_v2(handle(db), sql, -1, &st->q, NULL) != SQLITE_OK) {
        free(st);
        return failed(db, "cannot prepare a statement");
    }
    *out = &st->base;
    return 0;
}

static void lite_finalize(sqldb_stmt *st)
{
    sqlite3_finalize(query(st));
    free(st);
}

static int bound(sqldb_stmt *st, int rc)
{
    return rc == SQLITE_OK ? 0 : failed(st->db, "cannot bind a parameter");
}

static int lite_bind_int64(sqldb_stmt *st, int i, int64_t v)
{
    return bound(st, sqlite3_bind_int64(query(st), i, v));
}

static int lite_bind_textn(sqldb_stmt *st, int i, const char *s, size_t len)
{
    return bound(st, sqlite3_bind_text64(query(st), i, s, len, SQLITE_TRANSIENT, SQLITE_UTF8));
}

static int lite_bind_textn_borrowed(sqldb_stmt *st, int i, const char *s, size_t len)
{
    return bound(st, sqlite3_bind_text64(query(st), i, s, len, SQLITE_STATIC, SQLITE_UTF8));
}

static int lite_bind_blob(sqldb_stmt *st, int i, const void *p, size_t len)
{
    /* A zero-length blob is still a blob, not NULL. */
    return bound(st, len ? sqlite3_bind_blob64(query(st), i, p, len, SQLITE_TRANSIENT)
                         : sqlite3_bind_zeroblob(query(st), i, 0));
}

static int lite_bind_null(sqldb_stmt *st, int i) { return bound(st, sqlite3_bind_null(query(st), i)); }

static int lite_step(sqldb_stmt *st)
{
    int rc = sqlite3_step(query(st));

    if (rc == SQLITE_ROW)
        return 1;
    /* sqlite3_reset returns the step's error again: read it first. */
    if (rc != SQLITE_DONE) {
        failed(st->db, "statement failed");
        sqlite3_reset(query(st));
        return -1;
    }
    st->db->changes = sqlite3_changes(handle(st->db));
    sqlite3_reset(query(st));
    return 0;
}

static void lite_reset(sqldb_stmt *st)
{
    sqlite3_reset(query(st));
    sqlite3_clear_bindings(query(st));
}

static bool lite_column_null(sqldb_stmt *st, int i)
{
    return sqlite3_column_type(query(st), i) == SQLITE_NULL;
}

static int64_t lite_column_int64(sqldb_stmt *st, int i) { return sqlite3_column_int64(query(st), i); }

static const char *lite_column_text(sqldb_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(query(st), i);
}

static size_t lite_column_bytes(sqldb_stmt *st, int i)
{
    return (size_t)sqlite3_column_bytes(query(st), i);
}

static const void *lite_column_blob(sqldb_stmt *st, int i) { return sqlite3_column_blob(query(st), i); }

static int lite_column_count(sqldb_stmt *st) { return sqlite3_column_count(query(st)); }

static const char *lite_column_name(sqldb_stmt *st, int i)
{
    return sqlite3_column_name(query(st), i);
}

static sqldb_value_kind lite_column_kind(sqldb_stmt *st, int i)
{
    switch (sqlite3_column_type(query(st), i)) {
    case SQLITE_NULL: return SQLDB_NULL;
    case SQLITE_INTEGER: return SQLDB_INTEGER;
    case SQLITE_BLOB: return SQLDB_BLOB;
    default: return SQLDB_TEXT;  /* no REAL column in the schema */
    }
}

const sqldb_ops sqldb_sqlite_ops = {
    .open = lite_open,
    .close = lite_close,
    .exec = lite_exec,
    .begin = lite_begin,
    .lock = lite_lock,
    .try_lock_session = lite_try_lock_session,
    .unlock_session = lite_unlock_session,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .bind_int64 = lite_bind_int64,
    .bind_textn = lite_bind_textn,
    .bind_textn_borrowed = lite_bind_textn_borrowed,
    .bind_blob = lite_bind_blob,
    .bind_null = lite_bind_null,
    .step = lite_step,
    .reset = lite_reset,
    .column_null = lite_column_null,
    .column_int64 = lite_column_int64,
    .column_text = lite_column_text,
    .column_bytes = lite_column_bytes,
    .column_blob = lite_column_blob,
    .column_count = lite_column_count,
    .column_name = lite_column_name,
    .column_kind = lite_column_kind,
};
