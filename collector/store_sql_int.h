/* store_sql_int: what the store's files share (store_sql.c: records,
 * quarantine, alerts; store_rules_sql.c: rule state; store_outbox_sql.c,
 * store_alerts_sql.c). They speak the portable SQL of sqldb.h, so one
 * store runs on SQLite and on PostgreSQL. Private to them: nothing else
 * includes it. */
#ifndef SMP_STORE_SQL_INT_H
#define SMP_STORE_SQL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "sqldb.h"
#include "store.h"
#include "store_outbox.h"

#define STORE_CORE_STMTS 24
#define STORE_RULE_STMTS 32
#define STORE_OUTBOX_STMTS 8

/* A read sent ahead (sqldb_send_ahead): what it was sent for, "" when
 * none is; the next step of its statement takes the answer. */
typedef struct store_ahead {
    char key[2 * RECORD_STR_MAX + 2];
} store_ahead;

struct store {
    sqldb *db;
    sqldb_stmt *q[STORE_CORE_STMTS];   /* store_sql.c */
    sqldb_stmt *rq[STORE_RULE_STMTS];  /* store_rules_sql.c */
    sqldb_stmt *oq[STORE_OUTBOX_STMTS]; /* store_outbox_sql.c */
    /* put[k]: the INSERT of k + 1 records, prepared when first needed
     * (store_put_records, store_sql.c). */
    sqldb_stmt *put[STORE_PUT_MAX];
    /* ckpt[k]: the queueing of k + 1 checkpoints (store_queue_checkpoints);
     * ckpt_new[k] on SQLite its first try, which only inserts. */
    sqldb_stmt *ckpt[STORE_PUT_MAX];
    sqldb_stmt *ckpt_new[STORE_PUT_MAX];
    /* verified[k]: the marking of k + 1 checkpoints (store_mark_verified). */
    sqldb_stmt *verified[STORE_PUT_MAX];
    store_outbox_route_fn route;         /* NULL: no notification sink */
    void *route_ctx;
    const char *sink_names[STORE_OUTBOX_SINKS];
    /* Reads sent ahead, their answers not taken yet: the device's view
     * (store_device_view_ahead) and a grip's load (store_load_get_ahead). */
    store_ahead view_ahead, load_ahead;
    char err[512];
    bool retryable;   /* a failure since store_begin may pass if the transaction runs again */
};

/* Fills s->err with what failed and the database's reason (and notes
 * whether it is retryable: store_retryable); returns -1. Call it right
 * after the failing sqldb call. */
int store__failed(store *s, const char *what);
/* Steps a statement that returns no row, then resets it; 0 or -1. */
int store__run(store *s, sqldb_stmt *q, const char *what);
/* The same for a statement nothing later reads (sqldb_run_deferred): on
 * PostgreSQL sent without waiting, its failure reported by the
 * transaction's next statement or its commit, which the caller checks. */
int store__deferred(store *s, sqldb_stmt *q, const char *what);
/* Sends q, bound, ahead for key (sqldb_send_ahead): 0, also when it could
 * not be sent (q is reset: the read is made when asked for), or -1. */
int store__ahead_send(store *s, store_ahead *a, sqldb_stmt *q, const char *key, const char *what);
/* Whether q's next step reads the answer sent ahead for key (taken:
 * nothing to bind); if not, what was sent ahead is dropped. */
bool store__ahead_take(store_ahead *a, sqldb_stmt *q, const char *key);
/* Drops what was sent ahead and not taken. */
void store__ahead_drop(store_ahead *a, sqldb_stmt *q);
/* Steps once: 1 with a row (caller reads it, then calls store__reset),
 * 0 when done (already reset), -1 on error (already reset). */
int store__step(store *s, sqldb_stmt *q, const char *what);
void store__reset(sqldb_stmt *q);
/* Drains a RETURNING statement so its change completes, then resets. */
void store__finish(sqldb_stmt *q);
/* Copies a text column ("" for NULL). */
void store__copy_col(sqldb_stmt *q, int col, char *out, size_t cap);

/* Prepares the rule-state statements into s->rq (store_rules_sql.c). */
int store__prepare_rules(store *s, char *err, size_t errlen);
/* Prepares the outbox statements into s->oq (store_outbox_sql.c). */
int store__prepare_outbox(store *s, char *err, size_t errlen);

#endif
