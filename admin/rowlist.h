/* rowlist: the rows of a query as a malloc'ed array, for the admin
 * listings (clinics, sterilizers) that return every row to their caller. */
#ifndef SMP_ROWLIST_H
#define SMP_ROWLIST_H

#include <stddef.h>

#include "sqldb.h"

/* Fills one elem-sized entry from the statement's current row. */
typedef void (*rowlist_fn)(sqldb_stmt *st, void *entry);

/* Steps st (prepared and bound by the caller, finalized here whatever
 * happens) and appends each row through fn to a malloc'ed array: *out (NULL
 * when no rows), *count entries, freed by the caller. what names the
 * listing in err. */
int rowlist_collect(sqldb *db, sqldb_stmt *st, const char *what, size_t elem, rowlist_fn fn,
                    void **out, size_t *count, char *err, size_t errlen);

#endif
