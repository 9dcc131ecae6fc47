/* testdb: a fresh database per test on SQLite or PostgreSQL (testdb.h).
 * PostgreSQL databases are made with CREATE DATABASE on the cluster named
 * by SMP_TEST_PG, through one admin connection per process (opening one
 * per call doubled the time of a short test). */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "testdb.h"

static unsigned counter;
static sqldb *admin;
static pid_t admin_pid;

bool testdb_is_postgres(void)
{
    const char *uri = getenv("SMP_TEST_PG");
    return uri && *uri;
}

static void admin_close(void)
{
    if (admin && admin_pid == getpid())
        sqldb_close(admin);
    admin = NULL;
}

static sqldb *admin_get(void)
{
    const char *uri = getenv("SMP_TEST_PG");
    char err[600], masked[TESTDB_TARGET_MAX];

    /* A forked child must neither use nor end its parent's session. */
    if (admin && admin_pid == getpid())
        return admin;
    admin = NULL;
    if (!uri || !sqldb_is_postgres(uri)) {
        sqldb_mask(uri ? uri : "", masked, sizeof masked);
        fail_msg("SMP_TEST_PG=%s is not a postgresql:// URI (tests/pg/pgcluster.sh start prints one)",
                 masked);
    }
    if (sqldb_open(uri, 0, &admin, err, sizeof err) != 0)
        fail_msg("SMP_TEST_PG: %s; is the test cluster running (make unit-pg starts one)?", err);
    if (admin_pid == 0)
        atexit(admin_close);
    admin_pid = getpid();
    return admin;
}

static void admin_exec(const char *sql)
{
    sqldb *db = admin_get();

    if (sqldb_exec(db, sql) != 0)
        fail_msg("test cluster: %s", sqldb_errmsg(db));
}

/* Writes uri with its database name (the URI's path) replaced by dbname. */
static void with_dbname(const char *uri, const char *dbname, char *out, size_t cap)
{
    const char *auth = strstr(uri, "://") + 3;
    const char *path = auth + strcspn(auth, "/?#");
    const char *rest = *path == '/' ? path + 1 + strcspn(path + 1, "?#") : path;
    int n = snprintf(out, cap, "%.*s/%s%s", (int)(path - uri), uri, dbname, rest);

    if (n < 0 || (size_t)n >= cap)
        fail_msg("testdb: the target for %s does not fit in %zu bytes", dbname, cap);
}

/* The database name of a target made by testdb_new; only the names this
 * file makes are accepted, as they go into SQL unquoted. */
static void dbname_of(const char *target, char *out, size_t cap)
{
    const char *auth = strstr(target, "://") + 3;
    const char *path = auth + strcspn(auth, "/?#");
    size_t n = *path == '/' ? strcspn(path + 1, "?#") : 0;

    if (n == 0 || n >= cap || strncmp(path + 1, "t_", 2) != 0 ||
        strspn(path + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") < n)
        fail_msg("testdb: %s is not a database made by testdb_new", target);
    memcpy(out, path + 1, n);
    out[n] = '\0';
}

static void pg_new_empty(char *target, size_t cap)
{
    char name[64], sql[256];

    snprintf(name, sizeof name, "t_%ld_%u", (long)getpid(), ++counter);
    /* A process that died left its databases; a new one may have its pid. */
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    admin_exec(sql);
    snprintf(sql, sizeof sql,
             "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
             " STRATEGY FILE_COPY", /* copies files: faster than logging every page */
             name);
    admin_exec(sql);
    with_dbname(getenv("SMP_TEST_PG"), name, target, cap);
}

static void sqlite_new_empty(char *target, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], err[600];
    sqldb *db = NULL;
    int n;

    snprintf(dir, sizeof dir, "%s/smp-testdb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        fail_msg("testdb: cannot make a directory %s; is TMPDIR writable?", dir);
    n = snprintf(target, cap, "%s/store.db", dir);
    if (n < 0 || (size_t)n >= cap)
        fail_msg("testdb: the path %s/store.db does not fit in %zu bytes", dir, cap);
    if (sqldb_open(target, SQLDB_CREATE, &db, err, sizeof err) != 0)
        fail_msg("testdb: %s", err);
    sqldb_close(db);
}

void testdb_new_empty(char *target, size_t cap)
{
    if (testdb_is_postgres())
        pg_new_empty(target, cap);
    else
        sqlite_new_empty(target, cap);
}

void testdb_new(char *target, size_t cap)
{
    char err[600], masked[TESTDB_TARGET_MAX];
    int from = 0, to = 0;

    testdb_new_empty(target, cap);
    if (db_migrate(target, &from, &to, err, sizeof err) != 0) {
        sqldb_mask(target, masked, sizeof masked);
        fail_msg("testdb: db_migrate %s: %s", masked, err);
    }
}

/* A closed connection's server process exits a moment later, and DROP
 * DATABASE that finds one still there sleeps 100 ms before looking again:
 * waiting here in 2 ms steps (up to 1 s) makes a test's teardown quick. */
static void wait_sessions_gone(const char *name)
{
    struct timespec pause = {0, 2 * 1000 * 1000};
    sqldb *db = admin_get();

    for (int i = 0; i < 500; i++) {
        if (testdb_int_s(db, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = ?1", name) == 0)
            return;
        nanosleep(&pause, NULL);
    }
}

void testdb_drop(const char *target)
{
    char p[TESTDB_TARGET_MAX + 8], name[64], sql[128];
    const char *tails[] = {"", "-wal", "-shm"};
    char *slash;

    if (sqldb_is_postgres(target)) {
        dbname_of(target, name, sizeof name);
        wait_sessions_gone(name);
        /* FORCE: a test that failed midway may have left connections. */
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
        admin_exec(sql);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", target, tails[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s", target);
    slash = strrchr(p, '/');
    if (slash && strstr(p, "/smp-testdb-")) {
        *slash = '\0';
        rmdir(p);
    }
}

sqldb *testdb_open(const char *target)
{
    char err[600];
    sqldb *db = NULL;

    if (sqldb_open(target, 0, &db, err, sizeof err) != 0)
        fail_msg("testdb_open: %s", err);
    return db;
}

static int64_t query_int(sqldb *db, const char *sql, const char *param)
{
    sqldb_stmt *st = NULL;
    int64_t v;
    int rc;

    if (sqldb_prepare(db, sql, &st) != 0)
        fail_msg("testdb: %s", sqldb_errmsg(db));
    if (param && sqldb_bind_text(st, 1, param) != 0)
        fail_msg("testdb: %s", sqldb_errmsg(db));
    rc = sqldb_step(st);
    if (rc != 1) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", rc == 0 ? "no row" : sqldb_errmsg(db));
        sqldb_finalize(st);
        fail_msg("testdb: %s: %s", sql, msg);
    }
    v = sqldb_column_int64(st, 0);
    sqldb_finalize(st);
    return v;
}

int64_t testdb_int(sqldb *db, const char *sql)
{
    return query_int(db, sql, NULL);
}

int64_t testdb_int_s(sqldb *db, const char *sql, const char *param)
{
    return query_int(db, sql, param);
}

void testdb_exec(sqldb *db, const char *sql)
{
    if (sqldb_exec(db, sql) != 0)
        fail_msg("testdb: %s", sqldb_errmsg(db));
}

void testdb_with_secret(const char *target, const char *dbname, char *out, size_t cap)
{
    const char *auth = strstr(target, "://") + 3;
    const char *path = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', (size_t)(path - auth));
    const char *query = path + strcspn(path, "?#");
    int n;

    if (at)
        n = snprintf(out, cap, "%.*s:" TESTDB_SECRET "%.*s", (int)(at - target), target,
                     (int)(path - at), at);
    else
        n = snprintf(out, cap, "%.*s", (int)(path - target), target);
    if (n > 0 && (size_t)n < cap)
        n += dbname ? snprintf(out + n, cap - (size_t)n, "/%s", dbname)
                    : snprintf(out + n, cap - (size_t)n, "%.*s", (int)(query - path), path);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "%s%spassword=" TESTDB_SECRET, query,
                      *query == '?' ? "&" : "?");
    if (n <= 0 || (size_t)n >= cap)
        fail_msg("testdb: the target with a password does not fit in %zu bytes", cap);
}
