#include "rowlist.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"

int rowlist_collect(sqldb *db, sqldb_stmt *st, const char *what, size_t elem, rowlist_fn fn,
                    void **out, size_t *count, char *err, size_t errlen)
{
    char *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, step;

    *out = NULL;
    *count = 0;
    while ((step = sqldb_step(st)) == 1) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *m = realloc(arr, ncap * elem);
            if (!m) {
                snprintf(err, errlen, "%s: out of memory after %zu rows", what, n);
                goto cleanup;
            }
            arr = m;
            cap = ncap;
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
