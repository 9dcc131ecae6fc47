/* db: the one SQLite schema shared by smp-collector (writer) and smpctl
 * (device registry, reports). Opening creates or upgrades the schema, so
 * whichever program touches a database first leaves it complete. */
#ifndef SMP_DB_H
#define SMP_DB_H

#include <sqlite3.h>
#include <stddef.h>

#define DB_SCHEMA_VERSION 1

/* The record types of the partial index records_compliance (db.c): a
 * query that names the index must have "type IN " DB_COMPLIANCE_TYPES in
 * its WHERE, exactly so. */
#define DB_COMPLIANCE_TYPES                                                            \
    "('session.start', 'session.end', 'cartridge.insert', 'cartridge.remove',"      \
    " 'grip.assign', 'sterilization.cycle', 'sterilization.test')"

/* Opens (creating if needed) the database at path in WAL mode with
 * synchronous=FULL and a busy timeout, and applies the schema.
 * On success *out owns the handle (close with sqlite3_close). On failure
 * returns -1 and fills err with the file and SQLite's reason. */
int db_open(const char *path, sqlite3 **out, char *err, size_t errlen);

/* db_open for commands that read or change an existing database: a path
 * with no file is an error ("--db PATH: no such database; check the
 * path"), never a new empty database made by a typo. */
int db_open_existing(const char *path, sqlite3 **out, char *err, size_t errlen);

/* Runs one SQL statement with no result rows (BEGIN, COMMIT, ...). */
int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

#endif
