/* testdb: a fresh, migrated database for a unit test, on whichever store the
 * run asks for. With SMP_TEST_PG unset it is a new SQLite file in a temp
 * directory; with SMP_TEST_PG set to the URI of a running PostgreSQL
 * cluster (tests/pg/pgcluster.sh start prints one) it is a new database on
 * that cluster. Either way the schema is made by db_migrate, exactly as
 * smpctl db migrate makes it. Tests assert through the program interfaces
 * or through sqldb on testdb_open, never through SQLite or libpq. */
#ifndef SMP_TESTDB_H
#define SMP_TESTDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqldb.h"

#define TESTDB_TARGET_MAX 512

/* True when this run is on PostgreSQL. */
bool testdb_is_postgres(void);

/* Makes a new empty database with the current schema and writes the target
 * (a path or a postgresql:// URI) that opens it into target. Fails the test
 * (cmocka fail_msg) when it cannot. */
void testdb_new(char *target, size_t cap);

/* Like testdb_new without the schema (for the tests of db_migrate). */
void testdb_new_empty(char *target, size_t cap);

/* Drops a database made by testdb_new (the SQLite file and its -wal/-shm,
 * or the PostgreSQL database). */
void testdb_drop(const char *target);

/* Opens target read-write without any version check (for assertions and
 * for setting up odd states); fails the test when it cannot. */
sqldb *testdb_open(const char *target);

/* Runs a query that returns one integer (COUNT(*) ...) and returns it;
 * fails the test on error or when there is no row. */
int64_t testdb_int(sqldb *db, const char *sql);
/* The same with one text parameter ?1. */
int64_t testdb_int_s(sqldb *db, const char *sql, const char *param);
/* target (a PostgreSQL URI) with the password "secret" in its user part
 * and as a password= parameter, its database name replaced by dbname
 * (NULL: kept): for the tests that a password never reaches a message.
 * The test cluster trusts local connections, so the password is carried,
 * never checked. */
#define TESTDB_SECRET "secret"
void testdb_with_secret(const char *target, const char *dbname, char *out, size_t cap);

/* Runs SQL with no result (fails the test on error). */
void testdb_exec(sqldb *db, const char *sql);

#endif
