/* record_batch: how the bench generators (gen_db, gen_fleetdb) write
 * records rows: RECORD_BATCH rows per INSERT statement, through sqldb, so
 * PostgreSQL gets one round trip for many rows instead of one each (about
 * 5x the rows per second there; SQLite gains a little). Plain portable SQL:
 * a multi-row VALUES list with numbered parameters.
 *
 * Header-only (static functions) because each bench tool links only its
 * own object and bench/chain.o (Makefile); nothing else includes it.
 *
 * Rows are copied into the batch; record_batch_flush writes what is
 * pending (call it before a commit). The caller owns the transaction. On
 * -1 the reason is sqldb_errmsg(db) (or "out of memory" when b->oom). */
#ifndef SMP_BENCH_RECORD_BATCH_H
#define SMP_BENCH_RECORD_BATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "record.h"
#include "sqldb.h"

#define RECORD_BATCH 64
#define RECORD_BATCH_COLS 8

typedef struct record_row {
    char device[IDS_DEVICE_ID_MAX + 1];
    int64_t seq;
    char ts[RECORD_TS_LEN + 1], recv[RECORD_TS_LEN + 1];
    const char *type;                  /* record_type_name: static */
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX];
    char body[RECORD_CANON_MAX];
    size_t body_len;
} record_row;

typedef struct record_batch {
    sqldb *db;
    sqldb_stmt *many, *one;            /* RECORD_BATCH rows; one row */
    record_row *rows;                  /* RECORD_BATCH */
    int n;
    bool oom;
} record_batch;

static const char record_batch_cols[] =
    "INSERT INTO records(device_id, seq, ts, received_at, type, prev, hash, body) VALUES ";

/* "INSERT ... VALUES (?1, ..., ?8), (?9, ...)" for nrows rows, malloc'd. */
static inline char *record_batch_sql(int nrows)
{
    size_t cap = sizeof record_batch_cols + (size_t)nrows * RECORD_BATCH_COLS * 8 + 16;
    char *sql = malloc(cap);
    size_t len;

    if (sql == NULL)
        return NULL;
    len = (size_t)snprintf(sql, cap, "%s", record_batch_cols);
    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < RECORD_BATCH_COLS; c++)
            len += (size_t)snprintf(sql + len, cap - len, "%s?%d%s", c == 0 ? (r ? ", (" : "(") : ", ",
                                    r * RECORD_BATCH_COLS + c + 1, c == RECORD_BATCH_COLS - 1 ? ")" : "");
    return sql;
}

static inline int record_batch_open(record_batch *b, sqldb *db)
{
    char *many = record_batch_sql(RECORD_BATCH), *one = record_batch_sql(1);
    int rc = -1;

    memset(b, 0, sizeof *b);
    b->db = db;
    b->rows = calloc(RECORD_BATCH, sizeof *b->rows);
    b->oom = !many || !one || !b->rows;
    if (!b->oom && sqldb_prepare(db, many, &b->many) == 0 && sqldb_prepare(db, one, &b->one) == 0)
        rc = 0;
    free(many);
    free(one);
    return rc;
}

static inline void record_batch_close(record_batch *b)
{
    sqldb_finalize(b->many);
    sqldb_finalize(b->one);
    free(b->rows);
    memset(b, 0, sizeof *b);
}

/* Binds row r at the k-th row's parameters of st. */
static inline int record_batch_bind(sqldb_stmt *st, int k, const record_row *r)
{
    int i = k * RECORD_BATCH_COLS;

    return sqldb_bind_text(st, i + 1, r->device) || sqldb_bind_int64(st, i + 2, r->seq) ||
                   sqldb_bind_text(st, i + 3, r->ts) || sqldb_bind_text(st, i + 4, r->recv) ||
                   sqldb_bind_text(st, i + 5, r->type) || sqldb_bind_text(st, i + 6, r->prev) ||
                   sqldb_bind_text(st, i + 7, r->hash) ||
                   sqldb_bind_textn(st, i + 8, r->body, r->body_len)
               ? -1
               : 0;
}

/* Runs st, bound, and clears its bindings. */
static inline int record_batch_run(sqldb_stmt *st)
{
    int rc = sqldb_step(st);

    sqldb_reset(st);
    return rc == 0 ? 0 : -1;
}

/* Writes the pending rows: a full batch in one statement, fewer one by
 * one. */
static inline int record_batch_flush(record_batch *b)
{
    int n = b->n;

    b->n = 0;
    if (n == RECORD_BATCH) {
        for (int k = 0; k < n; k++)
            if (record_batch_bind(b->many, k, &b->rows[k]) != 0)
                return -1;
        return record_batch_run(b->many);
    }
    for (int k = 0; k < n; k++)
        if (record_batch_bind(b->one, 0, &b->rows[k]) != 0 || record_batch_run(b->one) != 0)
            return -1;
    return 0;
}

/* Queues one records row (copied); writes the batch when it is full. */
static inline int record_batch_add(record_batch *b, const char *device, int64_t seq, const char *ts,
                            const char *recv, const char *type, const char *prev,
                            const char *hash, const char *body, size_t body_len)
{
    record_row *r = &b->rows[b->n];
    size_t dev_len = strlen(device);

    if (body_len > sizeof r->body || dev_len >= sizeof r->device)
        return -1;
    memcpy(r->device, device, dev_len + 1);
    r->seq = seq;
    snprintf(r->ts, sizeof r->ts, "%s", ts);
    snprintf(r->recv, sizeof r->recv, "%s", recv);
    r->type = type;
    snprintf(r->prev, sizeof r->prev, "%s", prev);
    snprintf(r->hash, sizeof r->hash, "%s", hash);
    memcpy(r->body, body, body_len);
    r->body_len = body_len;
    return ++b->n == RECORD_BATCH ? record_batch_flush(b) : 0;
}

#endif
