/* db_copy: smpctl db copy — moves a fleet from one database to another
 * (a SQLite file into PostgreSQL, typically), every table, then checks the
 * copy: the same number of rows in every table, and every stored record's
 * hash and chain link re-verified in the new database. */
#ifndef SMP_DB_COPY_H
#define SMP_DB_COPY_H

#include <stdio.h>

/* Copies every row of the database at from into the database at to,
 * which must be migrated to the same schema version and hold nothing yet
 * (a half-filled target is refused: the copy is one transaction, so a
 * failure leaves it empty). Prints one line per table and the result of
 * the checks to out. Returns 0, or -1 with err saying what failed and what
 * to do; targets in messages are masked. */
int db_copy(const char *from, const char *to, FILE *out, char *err, size_t errlen);

#endif
