/* db: the one schema shared by smp-collector (writer) and smpctl (registry,
 * alerts, reports, exports), on either store behind sqldb (a SQLite path or
 * a postgresql:// URI), and its versions. db_migrate (smpctl db migrate) is
 * its one owner: it alone creates a database or changes its schema. Every
 * other program opens with db_open, which runs no DDL and refuses a
 * database of another version. */
#ifndef SMP_DB_H
#define SMP_DB_H

#include <stddef.h>

#include "sqldb.h"

/* The schema this build reads and writes (meta.schema_version); db.c lists
 * what each version added. */
#define DB_SCHEMA_VERSION 6

/* The rows of the partial index records_compliance (db.c): the compliance
 * records, not the usage counters and checkpoints (about 92 % of rows). A
 * query that wants the index must have the store's condition on its
 * records' type, db_compliance_type_term, in its WHERE, exactly so (and
 * on SQLite name the index: db_compliance_index). SQLite's is written with
 * the two types left out: it checks a list of more than two constants
 * through a temporary table it builds for every row inserted, which was a
 * fifth of the collector's commit (schema 5). PostgreSQL's lists the
 * seven kept, which its planner proves the reports' type lists against,
 * and also a single type: a query for one type may repeat SQLite's
 * condition on both stores (collector/store_rules_sql.c). */
#define DB_COMPLIANCE_TYPES                                                            \
    "('session.start', 'session.end', 'cartridge.insert', 'cartridge.remove',"      \
    " 'grip.assign', 'sterilization.cycle', 'sterilization.test')"
#define DB_NOT_COMPLIANCE_TYPES "('usage.counters', 'checkpoint')"

/* Creates the database at target if there is none (a SQLite file, mode
 * 0600; a PostgreSQL database must exist, empty) and brings its schema to
 * DB_SCHEMA_VERSION: the whole schema on an empty database, else each step
 * from its version, all in one transaction with the new schema_version (a
 * failure changes nothing; two migrations at once apply each step once).
 * *from_version is the version found (0: none), *to_version
 * DB_SCHEMA_VERSION. Refuses a newer version than this build's, and a
 * database with tables but no schema_version. Returns 0, or -1 with err
 * naming the (masked) target. */
int db_migrate(const char *target, int *from_version, int *to_version, char *err, size_t errlen);

/* Opens the existing database at target for reading and writing. Creates
 * nothing and changes no schema: a missing database, or a schema_version
 * other than DB_SCHEMA_VERSION, is refused with err naming the command that
 * fixes it (smpctl db migrate, or upgrading smpfleet). On success *out owns
 * the connection (sqldb_close). */
int db_open(const char *target, sqldb **out, char *err, size_t errlen);

/* db_open for a connection that never writes (smp-collector's /metrics,
 * smpctl broker acl, reports): the same checks, a read-only session. */
int db_open_readonly(const char *target, sqldb **out, char *err, size_t errlen);

/* Fills err with "database NAME: what: the database's reason" and returns
 * -1, for a failed statement on db. */
int db_error(sqldb *db, const char *what, char *err, size_t errlen);

/* A write transaction for smpctl's changes: sqldb_begin(SQLDB_WRITE) (on
 * SQLite the one writer, taken at once; on PostgreSQL READ COMMITTED), 0,
 * or -1 with db_error's message naming what. */
int db_begin_write(sqldb *db, const char *what, char *err, size_t errlen);
/* Ends it: commits when rc is 0, else rolls back (err already says why).
 * Returns rc, or -1 with err naming what when the commit fails. */
int db_end_write(sqldb *db, int rc, const char *what, char *err, size_t errlen);

/* Every table of the schema (meta too), each after the tables it
 * references: the order smpctl db copy fills them in. NULL-terminated. */
extern const char *const db_tables[];

/* After rows were inserted with their own ids (smpctl db copy): each
 * table's next id follows the largest one it holds (PostgreSQL identities
 * do not follow inserted ids by themselves; SQLite's do). 0 or -1. */
int db_resync_ids(sqldb *db, char *err, size_t errlen);

/* On SQLite, " INDEXED BY records_compliance" (SQLite's planner does not
 * pick a partial covering index by itself); "" on PostgreSQL. For the FROM
 * clause of a query whose WHERE has db_compliance_type_term. */
const char *db_compliance_index(sqldb *db);
/* The index's condition, for a WHERE: "type NOT IN " DB_NOT_COMPLIANCE_TYPES
 * on SQLite, "type IN " DB_COMPLIANCE_TYPES on PostgreSQL (prefix the
 * table's alias). */
const char *db_compliance_type_term(sqldb *db);

#endif
