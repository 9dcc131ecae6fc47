/* db: the one SQLite schema shared by smp-collector (writer) and smpctl
 * (device registry, reports), and its versions. db_migrate (smpctl db
 * migrate) is its one owner: it alone creates a database or changes its
 * schema. Every other program opens with db_open, which runs no DDL and
 * refuses a database of another version. */
#ifndef SMP_DB_H
#define SMP_DB_H

#include <sqlite3.h>
#include <stddef.h>

/* The schema this build reads and writes (meta.schema_version); db.c lists
 * what each version added. */
#define DB_SCHEMA_VERSION 2

/* The record types of the partial index records_compliance (db.c): a
 * query that names the index must have "type IN " DB_COMPLIANCE_TYPES in
 * its WHERE, exactly so. */
#define DB_COMPLIANCE_TYPES                                                            \
    "('session.start', 'session.end', 'cartridge.insert', 'cartridge.remove',"      \
    " 'grip.assign', 'sterilization.cycle', 'sterilization.test')"

/* Creates the database at path (mode 0600) if there is none and brings
 * its schema to DB_SCHEMA_VERSION: the whole schema on an empty database,
 * else each step from its version, all in one transaction with the new
 * schema_version (a failure changes nothing). *from_version is the version
 * found (0: none), *to_version DB_SCHEMA_VERSION; equal when it was up to
 * date. Refuses a newer version than this build's, and a file with tables
 * but no schema_version. Returns 0, or -1 with err naming the file. */
int db_migrate(const char *path, int *from_version, int *to_version, char *err, size_t errlen);

/* Opens the existing database at path in WAL mode with synchronous=FULL,
 * foreign keys and a busy timeout. Creates nothing and changes no schema:
 * a missing file, or a schema_version other than DB_SCHEMA_VERSION, is
 * refused with err naming the command that fixes it (smpctl db migrate,
 * or upgrading smpfleet). On success *out owns the handle (close with
 * sqlite3_close). */
int db_open(const char *path, sqlite3 **out, char *err, size_t errlen);

/* db_open's version check, for the few connections opened read-only
 * (smp-collector's /metrics, smpctl broker acl), which must neither write
 * nor see another schema: 0 when db's schema_version is DB_SCHEMA_VERSION,
 * else -1 with db_open's message. */
int db_check_version(sqlite3 *db, const char *path, char *err, size_t errlen);

/* Runs one SQL statement with no result rows (BEGIN, COMMIT, ...). */
int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* Fills err with "database FILE: what: SQLite's message" and returns -1,
 * for a failed statement on db. */
int db_error(sqlite3 *db, const char *what, char *err, size_t errlen);

/* Copies column i of the current row of st into out as text ("" for NULL),
 * cut to cap. */
void db_column_text(sqlite3_stmt *st, int i, char *out, size_t cap);

#endif
