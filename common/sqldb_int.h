/* sqldb_int: what sqldb.c (the public functions) and sqldb_target.c (what
 * a target is) share with the two implementations, sqldb_sqlite.c and
 * sqldb_pg.c. Private to those four files. */
#ifndef SMP_SQLDB_INT_H
#define SMP_SQLDB_INT_H

#include "sqldb.h"

/* Where the secrets of a postgresql:// target are: its authority
 * [auth, end) ends at the first '/', '?' or '#'; its userinfo at the last
 * '@' before that end (at; NULL without one: a password may itself hold an
 * '@' that a careless user did not encode, so the last one is the
 * separator); the userinfo's password follows colon (NULL without one) up
 * to at. The query string from end may hold password=... too. */
typedef struct sqldb_uri_parts {
    const char *auth, *end, *at, *colon;
} sqldb_uri_parts;

/* Fills *out for a PostgreSQL target (sqldb_is_postgres); false for any
 * other (a SQLite path has no secret). */
bool sqldb__uri_parts(const char *target, sqldb_uri_parts *out);

#define SQLDB_ERR_MAX 512
#define SQLDB_NAME_MAX 512

/* One implementation. Every function gets the connection or statement the
 * implementation allocated (which starts with the common header below). */
typedef struct sqldb_ops {
    int (*open)(const char *target, int flags, sqldb **out, char *err, size_t errlen);
    void (*close)(sqldb *db);
    int (*exec)(sqldb *db, const char *sql);
    int (*begin)(sqldb *db, int mode);
    int (*lock)(sqldb *db, const char *key, bool shared);
    int (*try_lock_session)(sqldb *db, const char *key, bool *held);
    int (*unlock_session)(sqldb *db, const char *key);
    int (*prepare)(sqldb *db, const char *sql, sqldb_stmt **out);
    void (*finalize)(sqldb_stmt *st);
    int (*bind_int64)(sqldb_stmt *st, int i, int64_t v);
    int (*bind_textn)(sqldb_stmt *st, int i, const char *s, size_t len);
    /* NULL: the store copies borrowed text like any other. */
    int (*bind_textn_borrowed)(sqldb_stmt *st, int i, const char *s, size_t len);
    int (*bind_blob)(sqldb_stmt *st, int i, const void *p, size_t len);
    int (*bind_null)(sqldb_stmt *st, int i);
    int (*step)(sqldb_stmt *st);
    /* NULL, or: 1 sent without waiting for the answer, 0 not sent (sqldb.c
     * runs it at once), -1 failed. */
    int (*run_deferred)(sqldb_stmt *st, int64_t expect_changes);
    /* NULL, or: 1 sent, its rows read by the next step; 0 not sent (the
     * step runs it); -1 failed. */
    int (*send_ahead)(sqldb_stmt *st);
    void (*reset)(sqldb_stmt *st);
    bool (*column_null)(sqldb_stmt *st, int i);
    int64_t (*column_int64)(sqldb_stmt *st, int i);
    const char *(*column_text)(sqldb_stmt *st, int i);
    size_t (*column_bytes)(sqldb_stmt *st, int i);
    const void *(*column_blob)(sqldb_stmt *st, int i);
    int (*column_count)(sqldb_stmt *st);
    const char *(*column_name)(sqldb_stmt *st, int i);
    sqldb_value_kind (*column_kind)(sqldb_stmt *st, int i);
} sqldb_ops;

/* The first member of every implementation's connection. */
struct sqldb {
    const sqldb_ops *ops;
    sqldb_kind kind;
    char name[SQLDB_NAME_MAX];   /* masked target */
    char err[SQLDB_ERR_MAX];
    bool retryable;              /* the last failure may pass if run again */
    int64_t changes;
    int64_t statements;          /* sqldb_statements */
    int64_t round_trips;         /* sqldb_round_trips */
};

/* The first member of every implementation's statement. */
struct sqldb_stmt {
    sqldb *db;
    bool running;                /* stepped to a row, not yet done or reset */
    bool sent_ahead;             /* by sqldb_send_ahead, not stepped or reset since */
};

extern const sqldb_ops sqldb_sqlite_ops;
extern const sqldb_ops sqldb_pg_ops;

/* Sets db->err to "what: why" (why may be NULL) and db->retryable; -1. */
int sqldb__fail(sqldb *db, bool retryable, const char *what, const char *why);
/* The failure of a statement (what) that changed db->changes rows where
 * sqldb_run_deferred was told to expect expected; -1. */
int sqldb__unexpected_changes(sqldb *db, const char *what, int64_t expected);

#endif
