/* sqldb: the one door to the database for every program (the storage seam).
 * Two implementations stand behind it, chosen by the value a user gives:
 * "postgresql://..." or "postgres://..." (a libpq connection URI) is
 * PostgreSQL (sqldb_pg.c); anything else is the path of a SQLite file
 * (sqldb_sqlite.c). Nothing outside those two files sees SQLite or libpq.
 *
 * The SQL given here is written once, in the subset both databases run the
 * same way:
 *   - parameters ?1, ?2, ... (numbered from 1; a bare ? is the next number);
 *   - INSERT ... ON CONFLICT (cols) DO NOTHING / DO UPDATE SET c = excluded.c,
 *     never INSERT OR IGNORE / OR REPLACE; RETURNING instead of a rowid;
 *   - integers as BIGINT (CAST(x AS BIGINT)), flags as 0/1 integers (never
 *     TRUE/FALSE), timestamps as ISO 8601 UTC text compared as text;
 *   - COALESCE (not IFNULL), CASE (not two-argument max/min), NULLS FIRST /
 *     NULLS LAST wherever NULLs are ordered, IS NOT DISTINCT FROM (not IS)
 *     between values, every selected column grouped or aggregated, an alias
 *     on every subquery in FROM, no LIKE/GLOB (case rules differ);
 *   - json_extract(text_column, '$.key') returns text on both (db.c gives
 *     PostgreSQL the function): compare it with text, or CAST it to BIGINT.
 * Text compares and sorts bytewise on both (COLLATE "C" in PostgreSQL's
 * schema), so a report reads the same from either.
 * PostgreSQL types every parameter: bind text where the SQL compares with
 * text and integers where it compares with integers; an integer passed to
 * a function wanting int (substr, ...) needs CAST(?N AS INTEGER), and a
 * parameter the SQL gives no type (SELECT ?1 IS NULL) needs a CAST too.
 * Text must be valid UTF-8 without NUL bytes (blobs carry anything).
 * PostgreSQL prepares a statement at its first step: a mistake in the SQL
 * shows as -1 from sqldb_step, so every step's result is checked.
 * A statement that fails inside a transaction makes PostgreSQL refuse the
 * rest of it: never run a statement expected to fail (use ON CONFLICT).
 *
 * A connection, and the statements prepared on it, belong to one thread. */
#ifndef SMP_SQLDB_H
#define SMP_SQLDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sqldb sqldb;
typedef struct sqldb_stmt sqldb_stmt;

typedef enum { SQLDB_SQLITE, SQLDB_POSTGRES } sqldb_kind;

/* sqldb_open flags. SQLDB_CREATE: a SQLite file that does not exist is
 * created (mode 0600); only the schema's owner (db_migrate) asks for it.
 * SQLDB_READONLY: the connection never writes (SQLite opens the file
 * read-only; PostgreSQL sessions default to read-only transactions). */
enum { SQLDB_CREATE = 1, SQLDB_READONLY = 2 };

/* True when target names a PostgreSQL database (postgresql:// or
 * postgres://), false for a SQLite path. */
bool sqldb_is_postgres(const char *target);

/* Copies target into out with any password replaced by "***" (the
 * user:password@ part and a password= parameter of a URI): the only form of a
 * target that may reach a log, a metric, --status or an error message. */
void sqldb_mask(const char *target, char *out, size_t cap);

/* Opens target. SQLite: WAL, synchronous=FULL, foreign keys, a 10 s busy
 * timeout; a missing file is refused unless SQLDB_CREATE. PostgreSQL: one
 * libpq connection. On failure returns -1 with err naming the (masked)
 * target and why; *out is NULL. */
int sqldb_open(const char *target, int flags, sqldb **out, char *err, size_t errlen);
void sqldb_close(sqldb *db);

sqldb_kind sqldb_kind_of(const sqldb *db);
/* The masked target, for messages. */
const char *sqldb_name(const sqldb *db);
/* The last failure on db (or on a statement of db), one line. */
const char *sqldb_errmsg(const sqldb *db);
/* True when the last failure is one that the same work may succeed on if
 * run again from its transaction's start: SQLite busy/locked, PostgreSQL
 * serialization failure, deadlock, or a connection that was lost (the
 * next sqldb_begin, or the next statement outside a transaction,
 * reconnects). */
bool sqldb_retryable(const sqldb *db);

/* Runs SQL that has no parameters and returns no rows; it may hold several
 * statements separated by ';'. 0 or -1. */
int sqldb_exec(sqldb *db, const char *sql);

/* Transactions. SQLDB_WRITE takes the write lock at once on SQLite (BEGIN
 * IMMEDIATE: one writer at a time); PostgreSQL runs READ COMMITTED and
 * relies on sqldb_lock for what must not interleave. SQLDB_SNAPSHOT reads
 * one consistent snapshot for the whole transaction (PostgreSQL:
 * REPEATABLE READ, READ ONLY; SQLite: any read transaction). */
enum { SQLDB_WRITE = 1, SQLDB_SNAPSHOT = 2 };
int sqldb_begin(sqldb *db, int mode);
int sqldb_commit(sqldb *db);
/* Never fails from the caller's point of view: a rollback that cannot run
 * means the transaction is already gone. */
void sqldb_rollback(sqldb *db);
/* Named savepoints inside a transaction (name: letters, digits, _). */
int sqldb_savepoint(sqldb *db, const char *name);
int sqldb_release(sqldb *db, const char *name);
int sqldb_rollback_to(sqldb *db, const char *name);

/* Inside a transaction: waits for, then holds until the transaction ends,
 * an exclusive lock on the name key (e.g. "device:m-1", "clinic:c-1"), so
 * that work on one device or clinic never interleaves across connections.
 * PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of key,
 * sent ahead like sqldb_run_deferred once its statement is prepared: the
 * server takes it before it runs anything sent after it, and a wait that
 * ends in a deadlock fails the next statement (retryable). A key the
 * transaction has locked already is not sent again (nor counted by
 * sqldb_statements), unless a rollback to a savepoint came in between.
 * SQLite: nothing to do (SQLDB_WRITE already admits one writer).
 * Outside a transaction it is an error on both. */
int sqldb_lock(sqldb *db, const char *key);
/* The same lock in shared mode: shared holders of key never wait for each
 * other; an exclusive one (sqldb_lock) waits for them all and they for it.
 * A transaction holding key shared that asks for it exclusive waits for the
 * other shared holders (two that both do deadlock: PostgreSQL fails one). */
int sqldb_lock_shared(sqldb *db, const char *key);

/* Tries, without waiting, to take the session-wide lock on key; *held tells
 * whether this connection holds it now (calling again while held keeps it).
 * It is released by sqldb_unlock_session or when the connection ends, also
 * when its process dies: the lock a leader holds among several collectors.
 * SQLite: always held (one collector per SQLite file). On PostgreSQL each
 * call while held costs a round trip: a lost session loses its locks
 * without telling us, and a leader must not go on believing it leads. */
int sqldb_try_lock_session(sqldb *db, const char *key, bool *held);
int sqldb_unlock_session(sqldb *db, const char *key);

/* Statements. sql follows the portable subset above. A statement is
 * prepared once and run many times: bind, step until it returns 0, then
 * sqldb_reset before binding again. On failure -1 (sqldb_errmsg). */
int sqldb_prepare(sqldb *db, const char *sql, sqldb_stmt **out);
void sqldb_finalize(sqldb_stmt *st);
/* Bindings are copied; i counts from 1. A NULL s binds SQL NULL. */
int sqldb_bind_int64(sqldb_stmt *st, int i, int64_t v);
int sqldb_bind_text(sqldb_stmt *st, int i, const char *s);
int sqldb_bind_textn(sqldb_stmt *st, int i, const char *s, size_t len);
int sqldb_bind_blob(sqldb_stmt *st, int i, const void *p, size_t len);
int sqldb_bind_null(sqldb_stmt *st, int i);
/* sqldb_bind_textn without the copy where the store can read the text in
 * place (SQLite; PostgreSQL copies it all the same): s must stay as it is
 * until this run of st ends (sqldb_step returns 0 or -1, or sqldb_reset),
 * and st must be bound again before it runs again. For the many values of
 * a multi-row insert: copying a message's record bodies was a tenth of
 * SQLite's commit. */
int sqldb_bind_textn_borrowed(sqldb_stmt *st, int i, const char *s, size_t len);
/* Runs the statement (first call) or moves to its next row: 1 when a row
 * is ready, 0 when there are no more rows (the statement is then reset, its
 * bindings kept), -1 on error (also reset, bindings kept). A PostgreSQL
 * run holds its whole result in memory until the next step after the last
 * row or a reset. */
int sqldb_step(sqldb_stmt *st);
/* Ends a run early and clears the bindings (NULL). */
void sqldb_reset(sqldb_stmt *st);

/* Runs a statement that returns no row, as sqldb_step and sqldb_reset do,
 * for a caller that needs nothing of it but to know whether it failed, and
 * can learn that later. Inside a transaction PostgreSQL sends it without
 * waiting for its answer (libpq's pipeline mode): the answer is read by
 * the connection's next statement, which then carries it in the same round
 * trip, or by the next exec (COMMIT, RELEASE SAVEPOINT, ...), which then
 * waits for it first. If the statement failed, that later call returns -1
 * and sqldb_errmsg names the statement sent ahead; the transaction is
 * then lost, as with any failure on PostgreSQL (a rollback still runs).
 * SQLite, and PostgreSQL outside a transaction or for a statement not yet
 * prepared on the server, run it at once. expect_changes >= 0: changing
 * another number of rows is a failure. sqldb_changes does not tell what
 * it changed. */
int sqldb_run_deferred(sqldb_stmt *st, int64_t expect_changes);

/* Sends a bound statement that returns rows without waiting for them, so
 * that the database works on it while the caller does something else: its
 * next sqldb_step reads them, waiting only for the statements sent before
 * it (and their answers, checked as sqldb_run_deferred's would be), none
 * sent after. PostgreSQL inside a transaction, the statement prepared on
 * the server: 1 (the server is asked to send what it has answered so far;
 * no round trip is counted, for the sending or the reading). Otherwise 0
 * (SQLite, which has no server to work meanwhile): the next step runs it
 * as usual. -1 when sending failed (sqldb_errmsg). A reset instead of the
 * step drops the rows. Nothing sent after it and before its step may
 * change what it reads: it reads the database as of when it was sent. */
int sqldb_send_ahead(sqldb_stmt *st);

/* Columns of the current row, i counting from 0. Pointers stay valid until
 * the next step or reset of st. */
bool sqldb_column_null(sqldb_stmt *st, int i);
/* A NULL is 0; PostgreSQL booleans read as 1/0. */
int64_t sqldb_column_int64(sqldb_stmt *st, int i);
/* NULL for SQL NULL. */
const char *sqldb_column_text(sqldb_stmt *st, int i);
/* Bytes of a text or blob column (0 for NULL). */
size_t sqldb_column_bytes(sqldb_stmt *st, int i);
const void *sqldb_column_blob(sqldb_stmt *st, int i);
/* Copies a text column into out ("" for NULL), cut to cap. */
void sqldb_column_copy(sqldb_stmt *st, int i, char *out, size_t cap);

/* What a column of the current row holds, for code that copies rows it
 * does not know (smpctl db copy). */
typedef enum { SQLDB_NULL, SQLDB_INTEGER, SQLDB_TEXT, SQLDB_BLOB } sqldb_value_kind;
int sqldb_column_count(sqldb_stmt *st);
const char *sqldb_column_name(sqldb_stmt *st, int i);
sqldb_value_kind sqldb_column_kind(sqldb_stmt *st, int i);

/* Rows inserted, updated or deleted by the last statement that finished
 * on db. */
int64_t sqldb_changes(sqldb *db);

/* How many statements were run on db so far: each sqldb_step that starts a
 * run, each sqldb_run_deferred, exec, transaction, savepoint and lock
 * call (on PostgreSQL, a lock the transaction did not hold yet): for
 * measuring, and for tests that bound the work. */
int64_t sqldb_statements(const sqldb *db);
/* How many times db waited for the database's answers: on PostgreSQL each
 * a round trip to the server (statements sent ahead wait for none of
 * their own; an exec after them adds one; preparing a statement on the
 * server is one); on SQLite each statement counts as one. */
int64_t sqldb_round_trips(const sqldb *db);

#endif
