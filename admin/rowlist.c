#include "rowlist.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "growarr.h"

int rowlist_collect(sqldb *db, sqldb_stmt *st, const char *what, size_t elem, rowlist_fn fn,
                    void **out, size_t *count, char *err, size_t errlen)
{
    char *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, step;

    *out = NULL;
    *count = 0;
    while ((step = sqldb_step(st)) == 1) {
        if (growarr_reserve((void **)&arr, &cap, n, elem) != 0) {
            snprintf(err, errlen, "%s: out of memory after %zu rows", what, n);
            goto cleanup;
        }
        fn(st, arr + elem * n++);
    }
    if (step != 0) {
        db_error(db, what, err, errlen);
        goto cleanup;
    }
    *out = arr;
    *count = n;
    arr = NULL;
    rc = 0;
cleanup:
    free(arr);
    sqldb_finalize(st);
    return rc;
}
