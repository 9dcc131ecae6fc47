/* sqldb_pg: the PostgreSQL side of the storage seam (sqldb.h), on libpq.
 *
 * Statements are server-side prepared statements, prepared at their first
 * run with the types of that run's bindings, and each run fetches its whole
 * result at once: the connection is then free to run other statements while
 * a caller walks the rows of one, as SQLite allows (libpq's single-row mode
 * would hold the connection until the last row was read).
 *
 * A lost connection (server restart, pg_terminate_backend, network) is
 * opened again by the next sqldb_begin, or by the next statement run
 * outside a transaction; never inside one, where the work done so far
 * would vanish unseen. A new session has none of the old one's prepared
 * statements or session locks: each statement remembers the connection's
 * generation it was prepared in and is prepared again when that is old.
 *
 * Statements point at their connection: finalize every statement before
 * sqldb_close (finalizing one after is a use after free). */
#include "sqldb_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs (catalog/pg_type_d.h ships with the server headers only). */
#define PG_BOOLOID 16
#define PG_BYTEAOID 17
#define PG_INT8OID 20
#define PG_TEXTOID 25

/* SQLite's default limit on ?N, so both refuse the same SQL. */
#define PG_MAX_PARAM 32766

typedef struct pg_param {
    char *value;   /* NULL: SQL NULL (also when never bound) */
    int length;
    int format;    /* 0 text, 1 binary (blobs) */
    Oid type;      /* of the binding; 0 for NULL */
} pg_param;

typedef struct pg_stmt pg_stmt;

typedef struct pg_conn {
    struct sqldb base;
    PGconn *conn;
    char *target;          /* unmasked: only to find its secrets in messages */
    int flags;
    unsigned gen;          /* bumped by every reconnect */
    unsigned next_id;      /* names s1, s2, ... of prepared statements */
    bool in_tx;            /* a transaction is open (as last seen) */
    pg_stmt *lock_st, *lock_shared_st, *try_st, *unlock_st;
    char **held;           /* keys of the session locks held */
    size_t nheld;
    /* Keys of the advisory locks the open transaction holds (pg_lock), and
     * whether it holds each one shared only. */
    char **xact_locks;
    bool *xact_shared;
    size_t nxact_locks;
    unsigned *stale;       /* prepared statements to DEALLOCATE when idle */
    size_t nstale, capstale;
    /* Statements sent ahead (sqldb_run_deferred, sqldb_send_ahead), their
     * answers not read yet, in the order sent. The connection is in
     * pipeline mode (piped) from the first one sent until a sync ends it.
     * The answers up to one sent by sqldb_send_ahead are read without a
     * sync, so the queue may be empty while the connection is still
     * piped. */
    struct pg_deferred *deferred;
    size_t ndeferred, capdeferred;
    bool piped;
} pg_conn;

/* A statement sent ahead: what names it if it failed, and the row count
 * its caller expects (< 0: any); or, rows_for, the statement whose rows
 * the answer is (sqldb_send_ahead), kept for its next step. */
typedef struct pg_deferred {
    char what[96];
    int64_t expect_changes;
    pg_stmt *rows_for;
} pg_deferred;

/* Answers left unread for at most this many statements: a server blocked
 * writing answers nobody reads would stop reading what is sent to it. */
#define PG_DEFERRED_MAX 256

struct pg_stmt {
    struct sqldb_stmt base;
    char *sql;             /* with $N */
    unsigned id;           /* server name s<id>; 0: never prepared */
    unsigned gen;          /* db->gen when prepared */
    int nparams;
    pg_param *params;
    Oid *types;            /* as prepared */
    const char **values;   /* scratch for PQexecPrepared */
    int *lengths, *formats;
    PGresult *res;         /* rows of the current run */
    int row, nrows, ncols;
    bool ahead;            /* sent by sqldb_send_ahead, its answer not read yet */
    PGresult *answer;      /* its answer, read before its step asked for it */
    char **dec;            /* decoded bytea of the current row, by column */
    size_t *declen;
};

/* ---- messages ------------------------------------------------------------ */

/* Copies s into out as one line: runs of whitespace become one space. */
static void one_line(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    bool space = false;

    if (cap == 0)
        return;
    for (; *s && n + 1 < cap; s++) {
        if (isspace((unsigned char)*s)) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            out[n++] = ' ';
        space = false;
        out[n++] = *s;
    }
    out[n] = '\0';
}

/* Decodes %XX escapes of s[0..n) into out (cap > n). */
static void pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* Replaces by *** each occurrence of secret[0..n) in buf (capacity cap)
 * that is not part of a longer word: libpq quotes what it could not use,
 * and a short password must not blank the letters of "address". */
static void blank(char *buf, size_t cap, const char *secret, size_t n)
{
    char *p = buf;

    if (n == 0)
        return;
    while ((p = strstr(p, secret)) != NULL) {
        size_t tail = strlen(p + n);
        if ((p > buf && isalnum((unsigned char)p[-1])) || isalnum((unsigned char)p[n])) {
            p++;
            continue;
        }
        if (n < 3 && (size_t)(p - buf) + 3 + tail + 1 > cap)
            break;
        memmove(p + 3, p + n, tail + 1);
        memcpy(p, "***", 3);
        p += 3;
    }
}

/* Blanks s[0..n) as written in the URI and percent-decoded. */
static void blank_both(char *buf, size_t cap, const char *s, size_t n)
{
    char *dec = n ? malloc(n + 1) : NULL;

    if (!dec) {
        /* Out of memory: no message at all rather than a secret. */
        if (n)
            snprintf(buf, cap, "(message withheld)");
        return;
    }
    memcpy(dec, s, n);
    dec[n] = '\0';
    blank(buf, cap, dec, n);
    pct_decode(s, n, dec);
    blank(buf, cap, dec, strlen(dec));
    free(dec);
}

/* Copies libpq's message into out as one line with the target's passwords
 * taken out: libpq quotes the whole URI in some of its parse errors. The
 * passwords are found as sqldb_mask finds them. */
static void scrub(const char *target, const char *msg, char *out, size_t cap)
{
    sqldb_uri_parts u;

    one_line(msg ? msg : "", out, cap);
    if (!sqldb__uri_parts(target, &u))
        return;
    if (u.colon) {
        blank_both(out, cap, u.colon + 1, (size_t)(u.at - u.colon - 1));
        /* libpq ends the password at the first '@' and takes the rest for
         * the host, which it then quotes: each piece is secret. */
        for (const char *p = u.colon + 1; p < u.at;) {
            size_t n = strcspn(p, "@");
            blank_both(out, cap, p, n);
            p += n + 1;
        }
    }
    for (const char *p = u.end; (p = strstr(p, "password=")) != NULL; p += 9)
        if (p[-1] == '?' || p[-1] == '&')
            blank_both(out, cap, p + 9, strcspn(p + 9, "&#"));
}

/* The first part of a statement, as the "what" of its failure. */
static void sql_what(const char *sql, char *out, size_t cap)
{
    char line[96];

    one_line(sql, line, sizeof line);
    if (strlen(line) > 80)
        memcpy(line + 77, "...", 4);
    snprintf(out, cap, "%s", line);
}

/* Fails with the server's error in res (NULL: the connection's), the
 * statement named by what. */
static int fail_named(pg_conn *db, const char *what, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char raw[SQLDB_ERR_MAX], why[SQLDB_ERR_MAX];
    /* A serialization failure or deadlock passes when run again; a lost
     * connection is opened again by the next sqldb_begin. */
    bool retry = PQstatus(db->conn) != CONNECTION_OK ||
                 (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0));

    if (primary)
        snprintf(raw, sizeof raw, "%s%s%s%s%s [SQLSTATE %s]", primary, detail ? ": " : "",
                 detail ? detail : "", hint ? "; hint: " : "", hint ? hint : "",
                 state ? state : "?");
    else
        snprintf(raw, sizeof raw, "%s", PQerrorMessage(db->conn));
    scrub(db->target, raw, why, sizeof why);
    return sqldb__fail(&db->base, retry, what, why);
}

static int fail_res(pg_conn *db, const char *sql, const PGresult *res)
{
    char what[96];

    sql_what(sql, what, sizeof what);
    return fail_named(db, what, res);
}

/* ---- session ------------------------------------------------------------- */

/* Notices (e.g. "there is no transaction in progress" from a rollback
 * after a failed begin) would reach stderr outside the programs' one-line
 * logs; nothing in them is acted on. */
static void drop_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The transaction's locks are gone: all of them when it ended, those
 * taken since the savepoint when rolled back to one (which ones is not
 * kept: all are asked for again). */
static void forget_xact_locks(pg_conn *db)
{
    for (size_t i = 0; i < db->nxact_locks; i++)
        free(db->xact_locks[i]);
    db->nxact_locks = 0;
}

static void no_tx(pg_conn *db)
{
    db->in_tx = false;
    forget_xact_locks(db);
}

static void note_tx(pg_conn *db)
{
    switch (PQtransactionStatus(db->conn)) {
    case PQTRANS_IDLE:
        no_tx(db);
        break;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        db->in_tx = true;
        break;
    default:
        break; /* lost or busy: as last seen */
    }
}

/* sqldb_changes counts what SQLite counts: rows of INSERT, UPDATE, DELETE
 * (RETURNING or not), untouched by SELECT or DDL. */
static void note_changes(pg_conn *db, const PGresult *res)
{
    const char *cmd = PQcmdStatus((PGresult *)res);

    if (strncmp(cmd, "INSERT ", 7) == 0 || strncmp(cmd, "UPDATE ", 7) == 0 ||
        strncmp(cmd, "DELETE ", 7) == 0 || strncmp(cmd, "MERGE ", 6) == 0) {
        const char *n = PQcmdTuples((PGresult *)res);
        db->base.changes = *n ? strtoll(n, NULL, 10) : 0;
    }
}

/* ---- statements sent ahead ----------------------------------------------- */

/* Reads the answer of d, the oldest statement sent ahead: its result, then
 * the NULL that ends it. The answer of one sent by sqldb_send_ahead is
 * kept for its step; any other is checked. The first failure (the
 * server's error, or another row count than expected) is reported, rc
 * keeping it: the server skips every statement after it (their results
 * come back as aborted) up to the sync. */
static int read_answer(pg_conn *db, const pg_deferred *d, int rc)
{
    PGresult *res = PQgetResult(db->conn);
    ExecStatusType status = PQresultStatus(res);

    if (res)
        PQclear(PQgetResult(db->conn));
    if (rc == 0 && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        rc = fail_named(db, d->what, res);
    } else if (rc == 0 && !d->rows_for) {
        note_changes(db, res);
        if (d->expect_changes >= 0 && db->base.changes != d->expect_changes)
            rc = sqldb__unexpected_changes(&db->base, d->what, d->expect_changes);
    }
    if (d->rows_for) {
        d->rows_for->ahead = false;
        d->rows_for->answer = res;
    } else {
        PQclear(res);
    }
    return rc;
}

/* Reads the answers of the first n statements sent ahead; rc as for
 * read_answer. */
static int read_answers(pg_conn *db, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++)
        rc = read_answer(db, &db->deferred[i], rc);
    db->ndeferred -= n;
    memmove(db->deferred, db->deferred + n, db->ndeferred * sizeof *db->deferred);
    return rc;
}

/* Reads the answers of all the statements sent ahead, once the sync that
 * ends them is sent. */
static int read_deferred(pg_conn *db)
{
    return read_answers(db, db->ndeferred, 0);
}

/* The statements sent ahead are gone with the session: none waits for an
 * answer any more. */
static void forget_deferred(pg_conn *db)
{
    for (size_t i = 0; i < db->ndeferred; i++)
        if (db->deferred[i].rows_for)
            db->deferred[i].rows_for->ahead = false;
    db->ndeferred = 0;
    db->piped = false;
}

static int reconnect(pg_conn *db);

/* A connection that lost its place in the exchange cannot be trusted with
 * the next statement: it is opened again (the open transaction is gone
 * with it, which the caller's rollback and retry handle as a lost
 * connection); -1, retryable. */
static int lose_place(pg_conn *db, const char *what)
{
    char why[SQLDB_ERR_MAX];

    scrub(db->target, PQerrorMessage(db->conn), why, sizeof why);
    sqldb__fail(&db->base, true, what, *why ? why : "lost its place in a pipeline");
    if (PQstatus(db->conn) == CONNECTION_OK) {
        char kept[SQLDB_ERR_MAX];
        memcpy(kept, db->base.err, sizeof kept);
        (void)reconnect(db);
        memcpy(db->base.err, kept, sizeof kept);
        db->base.retryable = true;
    }
    no_tx(db);
    forget_deferred(db);
    return -1;
}

/* Leaves pipeline mode after the sync's own result. */
static int end_pipeline(pg_conn *db)
{
    PGresult *res = PQgetResult(db->conn);
    bool synced = PQresultStatus(res) == PGRES_PIPELINE_SYNC;

    PQclear(res);
    if (!synced || PQexitPipelineMode(db->conn) != 1)
        return lose_place(db, "database connection");
    db->piped = false;
    note_tx(db);
    return 0;
}

/* Sends the sync that ends the statements sent ahead (and the one sent
 * after them, if any). */
static int send_sync(pg_conn *db)
{
    return PQpipelineSync(db->conn) == 1 ? 0 : lose_place(db, "database connection");
}

/* Waits for the answers of the statements sent ahead: one round trip. */
static int drain(pg_conn *db)
{
    int rc;

    if (!db->piped)
        return 0;
    db->base.round_trips++;
    if (send_sync(db) != 0)
        return -1;
    rc = read_deferred(db);
    return end_pipeline(db) != 0 ? -1 : rc;
}

/* Runs SQL with no rows on the raw connection: 0 or -1 (db->base.err). */
static int run(pg_conn *db, const char *sql)
{
    PGresult *res;
    ExecStatusType s;
    int rc = 0;

    db->base.round_trips++;
    res = PQexec(db->conn, sql);
    s = PQresultStatus(res);

    note_tx(db);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY)
        rc = fail_res(db, sql, res);
    else
        note_changes(db, res);
    PQclear(res);
    return rc;
}

static int session_setup(pg_conn *db)
{
    /* UTF8 whatever the database's encoding, as SQLite's text; UTC so that
     * timestamps formatted by the server read as SQLite's; hex so that
     * bytea columns decode one way; standard strings so that a backslash
     * in a literal is what translate() assumes. */
    if (run(db, "SET client_encoding = 'UTF8'; SET client_min_messages = warning; "
                "SET timezone = 'UTC'; SET bytea_output = 'hex'; "
                "SET standard_conforming_strings = on") != 0)
        return -1;
    if (db->flags & SQLDB_READONLY)
        return run(db, "SET default_transaction_read_only = on");
    return 0;
}

static void drop_held(pg_conn *db)
{
    for (size_t i = 0; i < db->nheld; i++)
        free(db->held[i]);
    free(db->held);
    db->held = NULL;
    db->nheld = 0;
}

/* A new session: the old one's statements and locks are gone with it. */
static int reconnect(pg_conn *db)
{
    char why[SQLDB_ERR_MAX];

    PQreset(db->conn);
    db->gen++;
    no_tx(db);
    forget_deferred(db);
    db->nstale = 0;
    drop_held(db);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        scrub(db->target, PQerrorMessage(db->conn), why, sizeof why);
        return sqldb__fail(&db->base, true,
                           "database connection lost; reconnecting failed (the next transaction tries again)",
                           why);
    }
    return session_setup(db);
}

/* Before a statement: a connection lost while no transaction was open is
 * opened again, losing nothing; inside a transaction the caller must roll
 * back and run the transaction again. */
static int usable(pg_conn *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    if (db->in_tx)
        return sqldb__fail(&db->base, true, "database connection lost inside a transaction",
                           "roll back and run the transaction again");
    return reconnect(db);
}

/* Deallocates finalized statements, only outside a transaction: a
 * DEALLOCATE that failed inside one would abort the caller's work. */
static void flush_stale(pg_conn *db)
{
    char sql[1024];
    size_t len = 0;

    if (db->nstale == 0 || PQstatus(db->conn) != CONNECTION_OK ||
        PQtransactionStatus(db->conn) != PQTRANS_IDLE)
        return;
    /* Up to ~40 in one round trip. */
    for (size_t i = 0; i < db->nstale; i++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "DEALLOCATE s%u;", db->stale[i]);
        if (i + 1 == db->nstale || len + 32 > sizeof sql) {
            db->base.round_trips++;
            PQclear(PQexec(db->conn, sql));
            len = 0;
        }
    }
    db->nstale = 0;
}

/* Remembers a server-side statement to deallocate; if memory is short it
 * stays on the server until the session ends, which is harmless. */
static void forget(pg_conn *db, unsigned id)
{
    if (db->nstale == db->capstale) {
        size_t cap = db->capstale ? db->capstale * 2 : 16;
        unsigned *p = realloc(db->stale, cap * sizeof *p);
        if (!p)
            return;
        db->stale = p;
        db->capstale = cap;
    }
    db->stale[db->nstale++] = id;
}

/* ---- placeholders -------------------------------------------------------- */

/* Rewrites ?N, and a bare ? as one more than the highest number so far
 * (SQLite's rule), into $N, leaving string literals, quoted identifiers and
 * comments alone. Returns the new text (malloc), the highest number in
 * *nparams and which numbers occur in *used (malloc, *nparams + 1
 * entries), or NULL with *why. */
static char *translate(const char *sql, int *nparams, bool **used, const char **why)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 7 + 1); /* "?" -> " $32766" at most */
    char *o = out;
    const char *p = sql;
    int max = 0;

    *why = "out of memory";
    *used = calloc(1, sizeof **used);
    if (!out || !*used)
        goto fail;
    while (*p) {
        if (*p == '\'' || *p == '"') {
            /* A doubled quote closes and opens again: same output. */
            const char *close = strchr(p + 1, *p);
            size_t n = close ? (size_t)(close - p) + 1 : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (p[0] == '-' && p[1] == '-') {
            size_t n = strcspn(p, "\n");
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *close = strstr(p + 2, "*/");
            size_t n = close ? (size_t)(close - p) + 2 : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (*p == '?') {
            long n = max + 1;
            p++;
            if (isdigit((unsigned char)*p)) {
                char *end;
                n = strtol(p, &end, 10);
                p = end;
            }
            if (n < 1 || n > PG_MAX_PARAM) {
                *why = "parameter number must be between ?1 and ?32766";
                goto fail;
            }
            if (n > max) {
                bool *u = realloc(*used, ((size_t)n + 1) * sizeof *u);
                if (!u)
                    goto fail;
                memset(u + max + 1, 0, (size_t)(n - max) * sizeof *u);
                *used = u;
                max = (int)n;
            }
            (*used)[n] = true;
            /* In PostgreSQL "a$1" is one identifier. */
            if (o > out && (isalnum((unsigned char)o[-1]) || o[-1] == '_'))
                *o++ = ' ';
            o += sprintf(o, "$%ld", n);
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *nparams = max;
    return out;

fail:
    free(out);
    free(*used);
    *used = NULL;
    return NULL;
}

/* ---- statements ---------------------------------------------------------- */

static void clear_row(pg_stmt *st)
{
    for (int i = 0; i < st->ncols && st->dec; i++) {
        free(st->dec[i]);
        st->dec[i] = NULL;
    }
}

/* Ends the current run, keeping the bindings. */
static void end_run(pg_stmt *st)
{
    clear_row(st);
    free(st->dec);
    free(st->declen);
    st->dec = NULL;
    st->declen = NULL;
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = st->ncols = 0;
}

/* Drops what st sent ahead: an answer still to come is read and dropped
 * with the others, one already read is freed. */
static void drop_ahead(pg_stmt *st)
{
    pg_conn *db = (pg_conn *)st->base.db;

    if (st->ahead)
        for (size_t i = 0; i < db->ndeferred; i++)
            if (db->deferred[i].rows_for == st)
                db->deferred[i].rows_for = NULL;
    st->ahead = false;
    PQclear(st->answer);
    st->answer = NULL;
}

static void clear_params(pg_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        free(st->params[i].value);
        st->params[i] = (pg_param){0};
    }
}

static int pg_prepare(sqldb *base, const char *sql, sqldb_stmt **out)
{
    pg_conn *db = (pg_conn *)base;
    pg_stmt *st = calloc(1, sizeof *st);
    const char *why = "out of memory";
    bool *used = NULL;
    char what[96];
    size_t n;

    if (!st)
        goto fail;
    st->base.db = base;
    st->sql = translate(sql, &st->nparams, &used, &why);
    if (!st->sql)
        goto fail;
    why = "out of memory";
    /* One element at least: calloc(0) may return NULL. */
    n = (size_t)st->nparams + 1;
    st->params = calloc(n, sizeof *st->params);
    st->types = calloc(n, sizeof *st->types);
    st->values = calloc(n, sizeof *st->values);
    st->lengths = calloc(n, sizeof *st->lengths);
    st->formats = calloc(n, sizeof *st->formats);
    if (!st->params || !st->types || !st->values || !st->lengths || !st->formats)
        goto fail;
    /* A number the SQL skips (?1, ?3) still needs a type on the server. */
    for (int i = 0; i < st->nparams; i++)
        if (!used[i + 1])
            st->types[i] = PG_TEXTOID;
    free(used);
    *out = &st->base;
    return 0;

fail:
    free(used);
    if (st) {
        free(st->params);
        free(st->types);
        free(st->values);
        free(st->lengths);
        free(st->formats);
        free(st->sql);
        free(st);
    }
    sql_what(sql, what, sizeof what);
    return sqldb__fail(&db->base, false, what, why);
}

/* Frees st; a statement prepared in this session is deallocated on the
 * server at the next idle moment. */
static void free_stmt(pg_stmt *st, bool deallocate)
{
    pg_conn *db = (pg_conn *)st->base.db;

    drop_ahead(st);
    end_run(st);
    clear_params(st);
    if (deallocate && st->id && st->gen == db->gen)
        forget(db, st->id);
    free(st->params);
    free(st->types);
    free(st->values);
    free(st->lengths);
    free(st->formats);
    free(st->sql);
    free(st);
}

static void pg_finalize(sqldb_stmt *s)
{
    free_stmt((pg_stmt *)s, true);
}

static pg_param *param(pg_stmt *st, int i)
{
    char why[64];

    if (i < 1 || i > st->nparams) {
        snprintf(why, sizeof why, "no parameter %d: the statement has %d", i, st->nparams);
        sqldb__fail(st->base.db, false, "bind", why);
        return NULL;
    }
    free(st->params[i - 1].value);
    st->params[i - 1] = (pg_param){0};
    return &st->params[i - 1];
}

static int set_param(pg_stmt *st, int i, const void *p, size_t len, Oid type, int format)
{
    pg_param *pp = param(st, i);

    if (!pp)
        return -1;
    if (len > INT_MAX)
        return sqldb__fail(st->base.db, false, "bind", "value longer than 2 GB");
    /* Never NULL, even for 0 bytes: a NULL value is SQL NULL. */
    pp->value = malloc(len + 1);
    if (!pp->value)
        return sqldb__fail(st->base.db, false, "bind", "out of memory");
    memcpy(pp->value, p, len);
    pp->value[len] = '\0';
    pp->length = (int)len;
    pp->type = type;
    pp->format = format;
    return 0;
}

static int pg_bind_int64(sqldb_stmt *s, int i, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);

    return set_param((pg_stmt *)s, i, buf, (size_t)n, PG_INT8OID, 0);
}

/* Text goes as a C string: PostgreSQL text holds no NUL byte, and its
 * encoding (UTF8) refuses invalid UTF-8. */
static int pg_bind_textn(sqldb_stmt *s, int i, const char *t, size_t len)
{
    return set_param((pg_stmt *)s, i, t, len, PG_TEXTOID, 0);
}

static int pg_bind_blob(sqldb_stmt *s, int i, const void *p, size_t len)
{
    return set_param((pg_stmt *)s, i, p ? p : "", p ? len : 0, PG_BYTEAOID, 1);
}

static int pg_bind_null(sqldb_stmt *s, int i)
{
    return param((pg_stmt *)s, i) ? 0 : -1;
}

/* Prepares st on the server when this session has not got it, or when a
 * blob is bound where the statement was prepared for something else (blobs
 * go in binary form, which only bytea reads). Types come from the
 * bindings; where the first run bound NULL the server infers the type and
 * is asked which it chose, so that later values are sent for it. */
static int stmt_ready(pg_stmt *st)
{
    pg_conn *db = (pg_conn *)st->base.db;
    bool current = st->id && st->gen == db->gen, redo = !current, infer = false;
    char name[16];
    PGresult *res;

    for (int i = 0; i < st->nparams; i++) {
        pg_param *pp = &st->params[i];
        if (pp->type == PG_BYTEAOID && st->types[i] != PG_BYTEAOID)
            redo = true;
        if (!current && pp->type)
            st->types[i] = pp->type;
        else if (current && pp->type == PG_BYTEAOID)
            st->types[i] = PG_BYTEAOID;
        infer = infer || st->types[i] == 0;
    }
    if (!redo)
        return 0;
    if (current)
        forget(db, st->id);
    st->id = ++db->next_id;
    snprintf(name, sizeof name, "s%u", st->id);
    db->base.round_trips++;
    res = PQprepare(db->conn, name, st->sql, st->nparams, st->types);
    note_tx(db);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_res(db, st->sql, res);
        PQclear(res);
        st->id = 0;
        return -1;
    }
    PQclear(res);
    st->gen = db->gen;
    if (!infer)
        return 0;
    db->base.round_trips++;
    res = PQdescribePrepared(db->conn, name);
    note_tx(db);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_res(db, st->sql, res);
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < st->nparams && i < PQnparams(res); i++)
        st->types[i] = PQparamtype(res, i);
    PQclear(res);
    return 0;
}

/* Whether stmt_ready has to prepare st on the server (a round trip of its
 * own, which cannot be sent ahead). */
static bool needs_prepare(const pg_stmt *st)
{
    const pg_conn *db = (const pg_conn *)st->base.db;

    if (!st->id || st->gen != db->gen)
        return true;
    for (int i = 0; i < st->nparams; i++)
        if (st->params[i].type == PG_BYTEAOID && st->types[i] != PG_BYTEAOID)
            return true;
    return false;
}

/* Points st's arrays for libpq at its bindings; returns its server name. */
static const char *load_params(pg_stmt *st, char name[16])
{
    for (int i = 0; i < st->nparams; i++) {
        st->values[i] = st->params[i].value;
        st->lengths[i] = st->params[i].length;
        st->formats[i] = st->params[i].format;
    }
    snprintf(name, 16, "s%u", st->id);
    return name;
}

static int send_prepared(pg_conn *db, pg_stmt *st, const char *name)
{
    return PQsendQueryPrepared(db->conn, name, st->nparams, st->values, st->lengths, st->formats,
                               0) == 1
               ? 0
               : lose_place(db, "database connection");
}

/* Runs st behind the statements sent ahead, in the same round trip: st and
 * the sync are sent, their answers read, then st's own. NULL when one of
 * them failed (reported). */
static PGresult *exec_after_deferred(pg_conn *db, pg_stmt *st, const char *name)
{
    PGresult *res;
    int rc;

    if (send_prepared(db, st, name) != 0 || send_sync(db) != 0)
        return NULL;
    rc = read_deferred(db);
    res = PQgetResult(db->conn);
    if (res)
        PQclear(PQgetResult(db->conn)); /* the NULL that ends st's results */
    if (end_pipeline(db) != 0 || rc != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* The answer of st, sent by sqldb_send_ahead: the answers sent before it
 * are read first (and checked), none after it. NULL when one of them or
 * its own failed (reported): then the rest are read up to a sync, as the
 * server skipped them. */
static PGresult *answer_ahead(pg_conn *db, pg_stmt *st)
{
    PGresult *res;
    size_t n = 0;
    int rc;

    while (n < db->ndeferred && db->deferred[n].rows_for != st)
        n++;
    /* Not in the queue: nothing after the last flush request may be read
     * before a sync (the server has not sent it). */
    rc = n < db->ndeferred ? read_answers(db, n + 1, 0)
                           : sqldb__fail(&db->base, true, "database connection",
                                         "lost a statement's answer");
    res = st->answer;
    st->answer = NULL;
    st->ahead = false;
    if (rc == 0 && res)
        return res;
    PQclear(res);
    if (send_sync(db) == 0) {
        (void)read_answers(db, db->ndeferred, rc);
        (void)end_pipeline(db);
    }
    return NULL;
}

static int take_result(pg_conn *db, pg_stmt *st, PGresult *res);

static int pg_step(sqldb_stmt *s)
{
    pg_stmt *st = (pg_stmt *)s;
    pg_conn *db = (pg_conn *)s->db;
    char name[16];
    PGresult *res;

    if (st->res) {
        clear_row(st);
        if (++st->row < st->nrows)
            return 1;
        end_run(st);
        return 0;
    }
    if (st->ahead || st->answer) {
        if (!(res = st->answer ? st->answer : answer_ahead(db, st)))
            return -1;
        st->answer = NULL;
        clear_params(st);
        return take_result(db, st, res);
    }
    if (usable(db) != 0)
        return -1;
    if (db->piped && needs_prepare(st) && drain(db) != 0)
        return -1;
    if (!db->in_tx)
        flush_stale(db);
    if (stmt_ready(st) != 0)
        return -1;
    load_params(st, name);
    db->base.round_trips++;
    if (db->piped) {
        if (!(res = exec_after_deferred(db, st, name)))
            return -1;
    } else {
        res = PQexecPrepared(db->conn, name, st->nparams, st->values, st->lengths, st->formats, 0);
    }
    return take_result(db, st, res);
}

/* Makes res (st's, which it takes) the current run of st: 1 at its first
 * row, 0 with none, -1 when it is a failure (reported). */
static int take_result(pg_conn *db, pg_stmt *st, PGresult *res)
{
    note_tx(db);
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
        note_changes(db, res);
        PQclear(res);
        return 0;
    case PGRES_TUPLES_OK:
        note_changes(db, res);
        if (PQntuples(res) == 0) {
            PQclear(res);
            return 0;
        }
        st->ncols = PQnfields(res);
        st->dec = calloc((size_t)st->ncols + 1, sizeof *st->dec);
        st->declen = calloc((size_t)st->ncols + 1, sizeof *st->declen);
        if (!st->dec || !st->declen) {
            PQclear(res);
            end_run(st);
            return sqldb__fail(&db->base, false, "step", "out of memory");
        }
        st->res = res;
        st->row = 0;
        st->nrows = PQntuples(res);
        return 1;
    default:
        fail_res(db, st->sql, res);
        PQclear(res);
        return -1;
    }
}

/* Sends st (prepared on the server) without waiting for its answer, in
 * pipeline mode: its place in the queue of answers to read, or NULL when
 * it cannot be sent ahead (outside a transaction, not prepared yet, too
 * many answers unread, out of memory; the caller runs it at once) or,
 * with *failed, when sending failed. */
static pg_deferred *send_ahead(pg_conn *db, pg_stmt *st, bool *failed)
{
    char name[16];
    pg_deferred *d;

    *failed = false;
    if (!db->in_tx || PQstatus(db->conn) != CONNECTION_OK || needs_prepare(st) ||
        db->ndeferred == PG_DEFERRED_MAX)
        return NULL;
    if (db->ndeferred == db->capdeferred) {
        size_t cap = db->capdeferred ? db->capdeferred * 2 : 16;
        pg_deferred *p = realloc(db->deferred, cap * sizeof *p);
        if (!p)
            return NULL;
        db->deferred = p;
        db->capdeferred = cap;
    }
    if (!db->piped) {
        if (PQenterPipelineMode(db->conn) != 1)
            return NULL;
        db->piped = true;
    }
    load_params(st, name);
    if (send_prepared(db, st, name) != 0) {
        clear_params(st);
        *failed = true;
        return NULL;
    }
    d = &db->deferred[db->ndeferred++];
    *d = (pg_deferred){.expect_changes = -1};
    sql_what(st->sql, d->what, sizeof d->what);
    return d;
}

/* Inside a transaction, a statement already prepared on the server is sent
 * without waiting for its answer (pipeline mode): 1. Otherwise 0, and
 * sqldb.c runs it at once. */
static int pg_run_deferred(sqldb_stmt *s, int64_t expect_changes)
{
    pg_stmt *st = (pg_stmt *)s;
    bool failed;
    pg_deferred *d = send_ahead((pg_conn *)s->db, st, &failed);

    if (!d)
        return failed ? -1 : 0;
    d->expect_changes = expect_changes;
    clear_params(st);
    return 1;
}

/* Like pg_run_deferred, but st's rows are wanted: the server is asked to
 * send what it has answered so far, and st's next step reads them (after
 * the answers of what was sent before it, none after). */
static int pg_send_rows_ahead(sqldb_stmt *s)
{
    pg_stmt *st = (pg_stmt *)s;
    pg_conn *db = (pg_conn *)s->db;
    bool failed;
    pg_deferred *d;

    if (st->res || st->ahead || st->answer)
        return 0;
    if (!(d = send_ahead(db, st, &failed)))
        return failed ? -1 : 0;
    d->rows_for = st;
    st->ahead = true;
    clear_params(st);
    if (PQsendFlushRequest(db->conn) != 1 || PQflush(db->conn) != 0)
        return lose_place(db, "database connection");
    return 1;
}

static void pg_reset(sqldb_stmt *s)
{
    drop_ahead((pg_stmt *)s);
    end_run((pg_stmt *)s);
    clear_params((pg_stmt *)s);
}

/* ---- columns ------------------------------------------------------------- */

static bool has_cell(pg_stmt *st, int i)
{
    return st->res && i >= 0 && i < st->ncols && !PQgetisnull(st->res, st->row, i);
}

static bool is_bytea(pg_stmt *st, int i)
{
    return PQftype(st->res, i) == PG_BYTEAOID;
}

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* The bytes of bytea column i of the current row, decoded from its text
 * form once per row and NUL-terminated (so column_text reads them too). */
static const char *decoded(pg_stmt *st, int i, size_t *len)
{
    const char *v = PQgetvalue(st->res, st->row, i);
    size_t n = (size_t)PQgetlength(st->res, st->row, i);

    if (!st->dec[i]) {
        if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
            size_t m = (n - 2) / 2;
            char *b = malloc(m + 1);
            if (!b)
                return NULL;
            for (size_t k = 0; k < m; k++)
                b[k] = (char)(hexval(v[2 + 2 * k]) << 4 | hexval(v[3 + 2 * k]));
            b[m] = '\0';
            st->dec[i] = b;
            st->declen[i] = m;
        } else {
            /* The escape format, if a server setting forced it. */
            size_t m;
            unsigned char *u = PQunescapeBytea((const unsigned char *)v, &m);
            char *b = u ? malloc(m + 1) : NULL;
            if (b) {
                memcpy(b, u, m);
                b[m] = '\0';
            }
            PQfreemem(u);
            if (!b)
                return NULL;
            st->dec[i] = b;
            st->declen[i] = m;
        }
    }
    *len = st->declen[i];
    return st->dec[i];
}

static bool pg_column_null(sqldb_stmt *s, int i)
{
    return !has_cell((pg_stmt *)s, i);
}

static const char *pg_column_text(sqldb_stmt *s, int i)
{
    pg_stmt *st = (pg_stmt *)s;
    size_t len;

    if (!has_cell(st, i))
        return NULL;
    /* Flags read as SQLite shows them. */
    if (PQftype(st->res, i) == PG_BOOLOID)
        return PQgetvalue(st->res, st->row, i)[0] == 't' ? "1" : "0";
    if (is_bytea(st, i))
        return decoded(st, i, &len);
    return PQgetvalue(st->res, st->row, i);
}

static int64_t pg_column_int64(sqldb_stmt *s, int i)
{
    pg_stmt *st = (pg_stmt *)s;
    const char *v;
    char *end;
    long long n;

    if (!has_cell(st, i))
        return 0;
    v = PQgetvalue(st->res, st->row, i);
    if (PQftype(st->res, i) == PG_BOOLOID)
        return v[0] == 't';
    n = strtoll(v, &end, 10);
    /* numeric "12.000" reads as 12 already; a float8 may need its exponent. */
    if (*end == 'e' || *end == 'E') {
        double d = strtod(v, NULL);
        if (d != d)
            return 0;
        if (d >= 9223372036854775807.0)
            return INT64_MAX;
        if (d <= -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)d;
    }
    return n;
}

static size_t pg_column_bytes(sqldb_stmt *s, int i)
{
    pg_stmt *st = (pg_stmt *)s;
    size_t len = 0;

    if (!has_cell(st, i))
        return 0;
    if (is_bytea(st, i))
        return decoded(st, i, &len) ? len : 0;
    return strlen(pg_column_text(s, i));
}

static const void *pg_column_blob(sqldb_stmt *s, int i)
{
    pg_stmt *st = (pg_stmt *)s;
    size_t len;

    if (!has_cell(st, i))
        return NULL;
    if (is_bytea(st, i))
        return decoded(st, i, &len);
    return pg_column_text(s, i);
}

static int pg_column_count(sqldb_stmt *s)
{
    pg_stmt *st = (pg_stmt *)s;
    return st->res ? PQnfields(st->res) : 0;
}

static const char *pg_column_name(sqldb_stmt *s, int i)
{
    pg_stmt *st = (pg_stmt *)s;
    return st->res ? PQfname(st->res, i) : NULL;
}

/* The integer types (int2/int4/int8, and booleans read as 1/0) are
 * integers; bytea a blob; the rest is text. */
static sqldb_value_kind pg_column_kind(sqldb_stmt *s, int i)
{
    pg_stmt *st = (pg_stmt *)s;
    Oid t;

    if (!has_cell(st, i))
        return SQLDB_NULL;
    t = PQftype(st->res, i);
    if (t == PG_INT8OID || t == 21 /* int2 */ || t == 23 /* int4 */ || t == PG_BOOLOID)
        return SQLDB_INTEGER;
    return is_bytea(st, i) ? SQLDB_BLOB : SQLDB_TEXT;
}

/* ---- connection ---------------------------------------------------------- */

static void pg_close(sqldb *base)
{
    pg_conn *db = (pg_conn *)base;

    if (!db)
        return;
    /* Statements sent ahead belong to a transaction left open: it is rolled
     * back with the session. */
    free(db->deferred);
    if (db->lock_st)
        free_stmt(db->lock_st, false);
    if (db->lock_shared_st)
        free_stmt(db->lock_shared_st, false);
    if (db->try_st)
        free_stmt(db->try_st, false);
    if (db->unlock_st)
        free_stmt(db->unlock_st, false);
    PQfinish(db->conn);
    drop_held(db);
    forget_xact_locks(db);
    free(db->xact_locks);
    free(db->xact_shared);
    free(db->stale);
    free(db->target);
    free(db);
}

static int pg_open(const char *target, int flags, sqldb **out, char *err, size_t errlen)
{
    pg_conn *db = calloc(1, sizeof *db);
    char name[SQLDB_NAME_MAX], why[SQLDB_ERR_MAX];
    sqldb_stmt *s;
    /* Defaults that the URI may override (it is expanded after them): a
     * server that does not answer, or a network that dropped the link,
     * must fail the connection within a minute, not hold a program in
     * PQexec for the kernel's TCP timeout. */
    static const char *const keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                                       "keepalives_count", "dbname", NULL};
    const char *const values[] = {"10", "30", "10", "3", target, NULL};

    sqldb_mask(target, why, sizeof why);
    /* Twice: whatever the mask missed, scrub finds. */
    scrub(target, why, name, sizeof name);
    if (!db || !(db->target = strdup(target))) {
        snprintf(err, errlen, "database %s: cannot connect: out of memory", name);
        goto fail;
    }
    db->base.kind = SQLDB_POSTGRES;
    db->flags = flags;
    db->gen = 1;
    db->conn = PQconnectdbParams(keys, values, 1);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        scrub(target, db->conn ? PQerrorMessage(db->conn) : "out of memory", why, sizeof why);
        snprintf(err, errlen, "database %s: cannot connect: %s", name, why);
        goto fail;
    }
    PQsetNoticeProcessor(db->conn, drop_notice, NULL);
    if (session_setup(db) != 0) {
        snprintf(err, errlen, "database %s: cannot set up the session: %s", name, db->base.err);
        goto fail;
    }
    /* hashtextextended: a 64-bit key, so distinct names hardly collide. */
    if (pg_prepare(&db->base, "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))", &s) != 0)
        goto fail_stmt;
    db->lock_st = (pg_stmt *)s;
    if (pg_prepare(&db->base, "SELECT pg_advisory_xact_lock_shared(hashtextextended(?1, 0))",
                   &s) != 0)
        goto fail_stmt;
    db->lock_shared_st = (pg_stmt *)s;
    if (pg_prepare(&db->base, "SELECT pg_try_advisory_lock(hashtextextended(?1, 0))", &s) != 0)
        goto fail_stmt;
    db->try_st = (pg_stmt *)s;
    if (pg_prepare(&db->base, "SELECT pg_advisory_unlock(hashtextextended(?1, 0))", &s) != 0)
        goto fail_stmt;
    db->unlock_st = (pg_stmt *)s;
    *out = &db->base;
    return 0;

fail_stmt:
    snprintf(err, errlen, "database %s: %s", name, db->base.err);
fail:
    pg_close(db ? &db->base : NULL);
    return -1;
}

static int pg_exec(sqldb *base, const char *sql)
{
    pg_conn *db = (pg_conn *)base;
    PGresult *res;
    int rc = 0;

    if (strcmp(sql, "ROLLBACK") == 0 && PQstatus(db->conn) != CONNECTION_OK) {
        /* The transaction died with the connection: nothing to undo, and
         * the next sqldb_begin reconnects. */
        no_tx(db);
        return sqldb__fail(base, true, "ROLLBACK", "the database connection was lost");
    }
    if (usable(db) != 0)
        return -1;
    /* A statement sent ahead that failed fails the transaction: COMMIT
     * (which the server would answer with ROLLBACK) or a savepoint's
     * RELEASE must report it; a rollback is what undoes it. */
    if (strncmp(sql, "ROLLBACK", 8) == 0)
        forget_xact_locks(db);    /* also a rollback to a savepoint */
    if (drain(db) != 0 && strncmp(sql, "ROLLBACK", 8) != 0)
        return -1;
    if (PQstatus(db->conn) != CONNECTION_OK && strncmp(sql, "ROLLBACK", 8) == 0)
        return -1; /* lost with its transaction: nothing left to undo */
    db->base.round_trips++;
    res = PQexec(db->conn, sql);
    note_tx(db);
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        note_changes(db, res);
        /* PostgreSQL answers COMMIT of a failed transaction with ROLLBACK
         * and no error: the caller must not believe it committed. */
        if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
            rc = sqldb__fail(base, false, "COMMIT",
                             "a statement in the transaction failed, so it was rolled back");
        break;
    default:
        rc = fail_res(db, sql, res);
    }
    PQclear(res);
    return rc;
}

static int pg_begin(sqldb *base, int mode)
{
    pg_conn *db = (pg_conn *)base;
    const char *sql = mode == SQLDB_SNAPSHOT ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN";
    PGresult *res;

    if (db->in_tx && PQstatus(db->conn) == CONNECTION_OK)
        return sqldb__fail(base, false, sql, "a transaction is already open; commit or roll back first");
    /* A server that dropped the session is only found out by using it; BEGIN
     * changes nothing, so it is safe to run once more on a new session. */
    for (int attempt = 0;; attempt++) {
        if (PQstatus(db->conn) != CONNECTION_OK && reconnect(db) != 0)
            return -1;
        flush_stale(db);
        db->base.round_trips++;
        res = PQexec(db->conn, sql);
        note_tx(db);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            return 0;
        }
        if (attempt == 0 && PQstatus(db->conn) != CONNECTION_OK) {
            PQclear(res);
            continue;
        }
        fail_res(db, sql, res);
        PQclear(res);
        return -1;
    }
}

/* Runs one of the lock statements with key; *value is its boolean. */
static int run_key(pg_conn *db, pg_stmt *st, const char *key, bool *value)
{
    int rc;

    if (pg_bind_textn(&st->base, 1, key, strlen(key)) != 0)
        return -1;
    rc = pg_step(&st->base);
    if (rc == 1 && value)
        *value = pg_column_int64(&st->base, 0) != 0;
    pg_reset(&st->base);
    if (rc == 0)
        return sqldb__fail(&db->base, false, st->sql, "no row");
    return rc < 0 ? -1 : 0;
}

/* A group of messages locks its devices up front, and each message asks
 * again for its device's lock and its clinic's (ingest, the rules): the
 * keys held are kept, so that asking again sends nothing (it would be
 * about two of a message's ten statements). Kept until the transaction
 * ends or rolls back to a savepoint; past XACT_LOCKS_MAX keys (a group
 * locks at most COMMITTER_GROUP_MAX devices) the rest are sent each
 * time. */
#define XACT_LOCKS_MAX 512

/* The index of key among the transaction's locks, -1: not held. */
static long xact_lock_index(pg_conn *db, const char *key)
{
    for (size_t i = 0; i < db->nxact_locks; i++)
        if (strcmp(db->xact_locks[i], key) == 0)
            return (long)i;
    return -1;
}

static void note_xact_lock(pg_conn *db, const char *key, bool shared)
{
    long i = xact_lock_index(db, key);
    char *copy;

    if (i >= 0) {                 /* an exclusive lock taken over a shared one */
        db->xact_shared[i] = db->xact_shared[i] && shared;
        return;
    }
    if (!db->xact_locks && (!(db->xact_locks = malloc(XACT_LOCKS_MAX * sizeof *db->xact_locks)) ||
                            !(db->xact_shared = malloc(XACT_LOCKS_MAX * sizeof *db->xact_shared)))) {
        free(db->xact_locks);
    free(db->xact_shared);
        db->xact_locks = NULL;
        return;
    }
    if (db->nxact_locks < XACT_LOCKS_MAX && (copy = strdup(key))) {
        db->xact_shared[db->nxact_locks] = shared;
        db->xact_locks[db->nxact_locks++] = copy;
    }
}

static int pg_lock(sqldb *base, const char *key, bool shared)
{
    pg_conn *db = (pg_conn *)base;
    pg_stmt *st = shared ? db->lock_shared_st : db->lock_st;
    long held;

    /* Outside a transaction the lock would end with the statement. */
    if (!db->in_tx)
        return sqldb__fail(base, false, "sqldb_lock", "no transaction is open; call sqldb_begin first");
    /* An exclusive lock covers a shared one; a shared one held does not
     * cover an exclusive one, which is asked for on top of it. */
    if ((held = xact_lock_index(db, key)) >= 0 && (shared || !db->xact_shared[held]))
        return 0;
    base->statements++;
    /* Sent ahead where it can be: the server takes the lock before it runs
     * anything sent after it on this connection, which is all a caller
     * relies on; a deadlock it ends in fails that later call (retryable),
     * and the transaction's rollback forgets the key. */
    if (pg_bind_textn(&st->base, 1, key, strlen(key)) != 0)
        return -1;
    switch (pg_run_deferred(&st->base, -1)) {
    case 1:
        break;
    case -1:
        return -1;
    default:
        if (run_key(db, st, key, NULL) != 0)
            return -1;
    }
    note_xact_lock(db, key, shared);
    return 0;
}

static long held_index(pg_conn *db, const char *key)
{
    for (size_t i = 0; i < db->nheld; i++)
        if (strcmp(db->held[i], key) == 0)
            return (long)i;
    return -1;
}

static int pg_try_lock_session(sqldb *base, const char *key, bool *held)
{
    pg_conn *db = (pg_conn *)base;
    bool got = false;
    char **p;

    *held = false;
    if (held_index(db, key) >= 0) {
        /* Session locks stack in PostgreSQL, so it is not taken twice; but
         * the lock lives only as long as the session, which a lost
         * connection ended without telling us: ask the server. */
        if (drain(db) != 0)
            return -1;
        db->base.round_trips++;
        PQclear(PQexec(db->conn, ""));
        if (PQstatus(db->conn) == CONNECTION_OK) {
            *held = true;
            return 0;
        }
    }
    if (usable(db) != 0)
        return -1;
    if (run_key(db, db->try_st, key, &got) != 0)
        return -1;
    if (!got)
        return 0;
    p = realloc(db->held, (db->nheld + 1) * sizeof *p);
    if (!p || !(p[db->nheld] = strdup(key))) {
        if (p)
            db->held = p;
        /* Not remembered, so not held: give it back. */
        (void)run_key(db, db->unlock_st, key, NULL);
        return sqldb__fail(base, false, "sqldb_try_lock_session", "out of memory");
    }
    db->held = p;
    db->nheld++;
    *held = true;
    return 0;
}

static int pg_unlock_session(sqldb *base, const char *key)
{
    pg_conn *db = (pg_conn *)base;
    long i = held_index(db, key);
    int rc;

    if (i < 0)
        return 0;
    rc = run_key(db, db->unlock_st, key, NULL);
    /* Released, or gone with a lost session. */
    if (rc == 0 || PQstatus(db->conn) != CONNECTION_OK) {
        free(db->held[i]);
        db->held[i] = db->held[--db->nheld];
    }
    return rc;
}

const sqldb_ops sqldb_pg_ops = {
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .lock = pg_lock,
    .try_lock_session = pg_try_lock_session,
    .unlock_session = pg_unlock_session,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_int64 = pg_bind_int64,
    .bind_textn = pg_bind_textn,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .run_deferred = pg_run_deferred,
    .send_ahead = pg_send_rows_ahead,
    .reset = pg_reset,
    .column_null = pg_column_null,
    .column_int64 = pg_column_int64,
    .column_text = pg_column_text,
    .column_bytes = pg_column_bytes,
    .column_blob = pg_column_blob,
    .column_count = pg_column_count,
    .column_name = pg_column_name,
    .column_kind = pg_column_kind,
};
