/* db_copy: smpctl db copy (db_copy.h). The copy is generic: it reads each
 * table of db_tables with SELECT * and inserts the rows by column name, so
 * a table added to the schema is copied without a change here. */
#include "db_copy.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "record.h"

typedef struct copy_ctx {
    sqldb *src, *dst;
    char *err;
    size_t errlen;
} copy_ctx;

static int64_t count_rows(sqldb *db, const char *table, char *err, size_t errlen)
{
    char sql[128];
    sqldb_stmt *q = NULL;
    int64_t n = -1;

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (sqldb_prepare(db, sql, &q) == 0 && sqldb_step(q) == 1)
        n = sqldb_column_int64(q, 0);
    if (n < 0)
        db_error(db, table, err, errlen);
    sqldb_finalize(q);
    return n;
}

/* The target holds nothing but its schema_version. */
static int check_empty(copy_ctx *c)
{
    for (const char *const *t = db_tables; *t; t++) {
        int64_t n = count_rows(c->dst, *t, c->err, c->errlen);
        if (n < 0)
            return -1;
        if (strcmp(*t, "meta") != 0 && n > 0) {
            snprintf(c->err, c->errlen, "database %s already holds %lld rows in %s: copy only into "
                     "a new database made with smpctl db migrate", sqldb_name(c->dst),
                     (long long)n, *t);
            return -1;
        }
    }
    return 0;
}

/* INSERT INTO table (the columns of src's statement) VALUES (?1...). */
static int prepare_insert(copy_ctx *c, const char *table, sqldb_stmt *src, sqldb_stmt **out)
{
    char *sql = NULL;
    size_t len = 0;
    int cols = sqldb_column_count(src), rc = 0;
    FILE *f = open_memstream(&sql, &len);

    if (!f) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    fprintf(f, "INSERT INTO %s (", table);
    for (int i = 0; i < cols; i++)
        fprintf(f, "%s%s", i ? ", " : "", sqldb_column_name(src, i));
    fputs(") VALUES (", f);
    for (int i = 0; i < cols; i++)
        fprintf(f, "%s?%d", i ? ", " : "", i + 1);
    fputs(")", f);
    if (fclose(f) != 0) {
        free(sql);
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    if (sqldb_prepare(c->dst, sql, out) != 0)
        rc = db_error(c->dst, table, c->err, c->errlen);
    free(sql);
    return rc;
}

static int bind_value(sqldb_stmt *src, sqldb_stmt *ins, int i)
{
    switch (sqldb_column_kind(src, i)) {
    case SQLDB_NULL:
        return sqldb_bind_null(ins, i + 1);
    case SQLDB_INTEGER:
        return sqldb_bind_int64(ins, i + 1, sqldb_column_int64(src, i));
    case SQLDB_BLOB:
        return sqldb_bind_blob(ins, i + 1, sqldb_column_blob(src, i), sqldb_column_bytes(src, i));
    case SQLDB_TEXT:
        break;
    }
    return sqldb_bind_textn(ins, i + 1, sqldb_column_text(src, i), sqldb_column_bytes(src, i));
}

/* Copies every row of table; *rows is how many. meta is not copied: the
 * target has its own schema_version, checked equal by db_open. */
static int copy_table(copy_ctx *c, const char *table, int64_t *rows)
{
    char sql[128];
    sqldb_stmt *q = NULL, *ins = NULL;
    int rc = 0, step;

    *rows = 0;
    snprintf(sql, sizeof sql, "SELECT * FROM %s", table);
    if (sqldb_prepare(c->src, sql, &q) != 0)
        return db_error(c->src, table, c->err, c->errlen);
    while (rc == 0 && (step = sqldb_step(q)) == 1) {
        if (!ins && prepare_insert(c, table, q, &ins) != 0) {
            rc = -1;
            break;
        }
        for (int i = 0; rc == 0 && i < sqldb_column_count(q); i++)
            if (bind_value(q, ins, i) != 0)
                rc = db_error(c->dst, table, c->err, c->errlen);
        if (rc == 0 && sqldb_step(ins) < 0)
            rc = db_error(c->dst, table, c->err, c->errlen);
        (*rows)++;
    }
    if (rc == 0 && step < 0)
        rc = db_error(c->src, table, c->err, c->errlen);
    sqldb_finalize(ins);
    sqldb_finalize(q);
    return rc;
}

/* Re-reads every record in db: its hash is the SHA-256 of its body and,
 * where its predecessor is stored, its prev is that record's hash.
 * *bad counts the records that fail either. */
static int verify_chains(sqldb *db, int64_t *records, int64_t *bad, char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    char last_dev[RECORD_STR_MAX + 1] = "", last_hash[RECORD_HASH_HEX] = "", hex[RECORD_HASH_HEX];
    int64_t last_seq = 0;
    int step;

    *records = *bad = 0;
    if (sqldb_prepare(db, "SELECT device_id, seq, prev, hash, body FROM records "
                          "ORDER BY device_id, seq", &q) != 0)
        return db_error(db, "records", err, errlen);
    while ((step = sqldb_step(q)) == 1) {
        const char *dev = sqldb_column_text(q, 0), *prev = sqldb_column_text(q, 2),
                   *hash = sqldb_column_text(q, 3), *body = sqldb_column_text(q, 4);
        int64_t seq = sqldb_column_int64(q, 1);
        bool same_dev = strcmp(dev, last_dev) == 0;

        record_sha256_hex(body, sqldb_column_bytes(q, 4), hex);
        if (strcmp(hex, hash) != 0 || (same_dev && seq == last_seq + 1 && strcmp(prev, last_hash) != 0))
            (*bad)++;
        (*records)++;
        snprintf(last_dev, sizeof last_dev, "%s", dev);
        snprintf(last_hash, sizeof last_hash, "%s", hash);
        last_seq = seq;
    }
    sqldb_finalize(q);
    return step < 0 ? db_error(db, "records", err, errlen) : 0;
}

/* Every table has as many rows in dst as in src, and dst's chains verify
 * as src's do. */
static int check_copy(copy_ctx *c, FILE *out)
{
    int64_t src_records, src_bad, dst_records, dst_bad;

    for (const char *const *t = db_tables; *t; t++) {
        int64_t a = count_rows(c->src, *t, c->err, c->errlen);
        int64_t b = a < 0 ? -1 : count_rows(c->dst, *t, c->err, c->errlen);
        if (a < 0 || b < 0)
            return -1;
        if (a != b) {
            snprintf(c->err, c->errlen, "table %s: %lld rows in %s but %lld in %s after the copy",
                     *t, (long long)a, sqldb_name(c->src), (long long)b, sqldb_name(c->dst));
            return -1;
        }
    }
    if (verify_chains(c->src, &src_records, &src_bad, c->err, c->errlen) != 0 ||
        verify_chains(c->dst, &dst_records, &dst_bad, c->err, c->errlen) != 0)
        return -1;
    if (dst_records != src_records || dst_bad != src_bad) {
        snprintf(c->err, c->errlen, "chains differ after the copy: %lld records with %lld bad "
                 "hashes or links in %s, %lld with %lld in %s", (long long)src_records,
                 (long long)src_bad, sqldb_name(c->src), (long long)dst_records,
                 (long long)dst_bad, sqldb_name(c->dst));
        return -1;
    }
    fprintf(out, "checked: every table has the same row count; %lld records re-verified "
            "(hash of each body, link to its predecessor): %lld bad, as in the source\n",
            (long long)dst_records, (long long)dst_bad);
    return 0;
}

static int copy_all(copy_ctx *c, FILE *out)
{
    for (const char *const *t = db_tables; *t; t++) {
        int64_t rows;
        if (strcmp(*t, "meta") == 0)
            continue;
        if (copy_table(c, *t, &rows) != 0)
            return -1;
        fprintf(out, "%-20s %lld rows\n", *t, (long long)rows);
    }
    return db_resync_ids(c->dst, c->err, c->errlen);
}

int db_copy(const char *from, const char *to, FILE *out, char *err, size_t errlen)
{
    copy_ctx c = {NULL, NULL, err, errlen};
    int rc = -1;

    if (db_open_readonly(from, &c.src, err, errlen) != 0 || db_open(to, &c.dst, err, errlen) != 0)
        goto done;
    /* One snapshot of the source (a collector may still be writing it), one
     * transaction on the target: a failure leaves it empty. */
    if (sqldb_begin(c.src, SQLDB_SNAPSHOT) != 0) {
        db_error(c.src, "begin", err, errlen);
        goto done;
    }
    if (sqldb_begin(c.dst, SQLDB_WRITE) != 0) {
        db_error(c.dst, "begin", err, errlen);
        goto done;
    }
    if (check_empty(&c) != 0 || copy_all(&c, out) != 0)
        goto rollback;
    if (sqldb_commit(c.dst) != 0) {
        db_error(c.dst, "commit", err, errlen);
        goto rollback;
    }
    rc = check_copy(&c, out);
    goto done;

rollback:
    sqldb_rollback(c.dst);
done:
    if (c.src)
        sqldb_rollback(c.src);
    sqldb_close(c.src);
    sqldb_close(c.dst);
    return rc;
}
