/* sqldb: the public functions, which hand each call to the connection's
 * implementation (sqldb_sqlite.c, sqldb_pg.c), and what both share:
 * choosing the implementation from the target (sqldb_target.c tells what a
 * target is and masks its password),
 * transactions and savepoints in the SQL both speak. */
#include "sqldb_int.h"
#include "textcopy.h"

#include <stdio.h>
#include <string.h>

int sqldb__fail(sqldb *db, bool retryable, const char *what, const char *why)
{
    size_t n;

    snprintf(db->err, sizeof db->err, "%s%s%s", what, why ? ": " : "", why ? why : "");
    /* Server messages end in a newline; a message is one line. */
    n = strlen(db->err);
    while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
        db->err[--n] = '\0';
    for (char *c = db->err; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    db->retryable = retryable;
    return -1;
}

int sqldb_open(const char *target, int flags, sqldb **out, char *err, size_t errlen)
{
    const sqldb_ops *ops = sqldb_is_postgres(target) ? &sqldb_pg_ops : &sqldb_sqlite_ops;

    *out = NULL;
    if (ops->open(target, flags, out, err, errlen) != 0)
        return -1;
    (*out)->ops = ops;
    sqldb_mask(target, (*out)->name, sizeof (*out)->name);
    return 0;
}

void sqldb_close(sqldb *db)
{
    if (db)
        db->ops->close(db);
}

sqldb_kind sqldb_kind_of(const sqldb *db) { return db->kind; }
const char *sqldb_name(const sqldb *db) { return db->name; }
const char *sqldb_errmsg(const sqldb *db) { return db->err; }
bool sqldb_retryable(const sqldb *db) { return db->retryable; }
int64_t sqldb_changes(sqldb *db) { return db->changes; }
int64_t sqldb_statements(const sqldb *db) { return db->statements; }
int64_t sqldb_round_trips(const sqldb *db)
{
    /* SQLite's statements wait for nobody: each counts as one. */
    return db->kind == SQLDB_POSTGRES ? db->round_trips : db->statements;
}

int sqldb_exec(sqldb *db, const char *sql)
{
    db->statements++;
    return db->ops->exec(db, sql);
}
int sqldb_begin(sqldb *db, int mode)
{
    db->statements++;
    return db->ops->begin(db, mode);
}
int sqldb_commit(sqldb *db) { return sqldb_exec(db, "COMMIT"); }

void sqldb_rollback(sqldb *db)
{
    /* Keeps the failure that led here as the message to report. */
    char saved[SQLDB_ERR_MAX];
    bool retryable = db->retryable;

    memcpy(saved, db->err, sizeof saved);
    (void)sqldb_exec(db, "ROLLBACK");
    memcpy(db->err, saved, sizeof saved);
    db->retryable = retryable;
}

/* Runs "<verb> <name>" for a savepoint name of letters, digits and _. */
static int savepoint_sql(sqldb *db, const char *verb, const char *name)
{
    char sql[128];

    if (name[0] == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_") != strlen(name) ||
        strlen(name) > 63)
        return sqldb__fail(db, false, "savepoint name must be letters, digits and _", name);
    snprintf(sql, sizeof sql, "%s %s", verb, name);
    return sqldb_exec(db, sql);
}

int sqldb_savepoint(sqldb *db, const char *name) { return savepoint_sql(db, "SAVEPOINT", name); }
int sqldb_release(sqldb *db, const char *name) { return savepoint_sql(db, "RELEASE SAVEPOINT", name); }
int sqldb_rollback_to(sqldb *db, const char *name)
{
    return savepoint_sql(db, "ROLLBACK TO SAVEPOINT", name);
}

/* Counted by the backend: PostgreSQL sends nothing for a lock its
 * transaction holds already. */
int sqldb_lock(sqldb *db, const char *key) { return db->ops->lock(db, key, false); }

int sqldb_lock_shared(sqldb *db, const char *key) { return db->ops->lock(db, key, true); }
int sqldb_try_lock_session(sqldb *db, const char *key, bool *held)
{
    db->statements++;
    return db->ops->try_lock_session(db, key, held);
}
int sqldb_unlock_session(sqldb *db, const char *key)
{
    db->statements++;
    return db->ops->unlock_session(db, key);
}

int sqldb_prepare(sqldb *db, const char *sql, sqldb_stmt **out)
{
    *out = NULL;
    return db->ops->prepare(db, sql, out);
}

void sqldb_finalize(sqldb_stmt *st)
{
    if (st)
        st->db->ops->finalize(st);
}

int sqldb_bind_int64(sqldb_stmt *st, int i, int64_t v) { return st->db->ops->bind_int64(st, i, v); }
int sqldb_bind_text(sqldb_stmt *st, int i, const char *s)
{
    return s ? st->db->ops->bind_textn(st, i, s, strlen(s)) : st->db->ops->bind_null(st, i);
}
int sqldb_bind_textn(sqldb_stmt *st, int i, const char *s, size_t len)
{
    return st->db->ops->bind_textn(st, i, s, len);
}
int sqldb_bind_textn_borrowed(sqldb_stmt *st, int i, const char *s, size_t len)
{
    const sqldb_ops *ops = st->db->ops;

    return ops->bind_textn_borrowed ? ops->bind_textn_borrowed(st, i, s, len)
                                    : ops->bind_textn(st, i, s, len);
}
int sqldb_bind_blob(sqldb_stmt *st, int i, const void *p, size_t len)
{
    return st->db->ops->bind_blob(st, i, p, len);
}
int sqldb_bind_null(sqldb_stmt *st, int i) { return st->db->ops->bind_null(st, i); }
int sqldb_step(sqldb_stmt *st)
{
    int rc;

    if (!st->running && !st->sent_ahead)
        st->db->statements++;
    st->sent_ahead = false;
    rc = st->db->ops->step(st);
    st->running = rc == 1;
    return rc;
}
void sqldb_reset(sqldb_stmt *st)
{
    st->running = false;
    st->sent_ahead = false;
    st->db->ops->reset(st);
}

int sqldb_send_ahead(sqldb_stmt *st)
{
    int rc = st->db->ops->send_ahead && !st->running ? st->db->ops->send_ahead(st) : 0;

    if (rc == 1) {
        st->db->statements++;
        st->sent_ahead = true;
    }
    return rc < 0 ? -1 : rc;
}

int sqldb__unexpected_changes(sqldb *db, const char *what, int64_t expected)
{
    char why[96];

    snprintf(why, sizeof why, "changed %lld rows where %lld were expected",
             (long long)db->changes, (long long)expected);
    return sqldb__fail(db, false, what, why);
}

int sqldb_run_deferred(sqldb_stmt *st, int64_t expect_changes)
{
    sqldb *db = st->db;
    int rc = db->ops->run_deferred ? db->ops->run_deferred(st, expect_changes) : 0;

    db->statements++;
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    rc = db->ops->step(st);
    sqldb_reset(st);
    if (rc == 1)
        return sqldb__fail(db, false, "sqldb_run_deferred", "the statement returned a row");
    if (rc == 0 && expect_changes >= 0 && db->changes != expect_changes)
        return sqldb__unexpected_changes(db, "statement", expect_changes);
    return rc;
}

bool sqldb_column_null(sqldb_stmt *st, int i) { return st->db->ops->column_null(st, i); }
int64_t sqldb_column_int64(sqldb_stmt *st, int i) { return st->db->ops->column_int64(st, i); }
const char *sqldb_column_text(sqldb_stmt *st, int i) { return st->db->ops->column_text(st, i); }
size_t sqldb_column_bytes(sqldb_stmt *st, int i) { return st->db->ops->column_bytes(st, i); }
const void *sqldb_column_blob(sqldb_stmt *st, int i) { return st->db->ops->column_blob(st, i); }

int sqldb_column_count(sqldb_stmt *st) { return st->db->ops->column_count(st); }
const char *sqldb_column_name(sqldb_stmt *st, int i) { return st->db->ops->column_name(st, i); }
sqldb_value_kind sqldb_column_kind(sqldb_stmt *st, int i) { return st->db->ops->column_kind(st, i); }

void sqldb_column_copy(sqldb_stmt *st, int i, char *out, size_t cap)
{
    text_copy(out, cap, sqldb_column_text(st, i));
}
