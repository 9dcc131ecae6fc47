/* store_sqlite_int: what the SQLite store's files share (store_sqlite.c:
 * records, quarantine, alerts; store_rules_sqlite.c: rule state). Private
 * to them: nothing else includes it. */
#ifndef SMP_STORE_SQLITE_INT_H
#define SMP_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stddef.h>

#include "store.h"
#include "store_outbox.h"

#define STORE_CORE_STMTS 24
#define STORE_RULE_STMTS 24
#define STORE_OUTBOX_STMTS 8

struct store {
    sqlite3 *db;
    sqlite3_stmt *q[STORE_CORE_STMTS];   /* store_sqlite.c */
    sqlite3_stmt *rq[STORE_RULE_STMTS];  /* store_rules_sqlite.c */
    sqlite3_stmt *oq[STORE_OUTBOX_STMTS]; /* store_outbox_sqlite.c */
    store_outbox_route_fn route;         /* NULL: no notification sink */
    void *route_ctx;
    const char *sink_names[STORE_OUTBOX_SINKS];
    char err[512];
};

/* Fills s->err with what failed and SQLite's reason; returns -1. */
int store__failed(store *s, const char *what);
/* Steps a statement that returns no row, then resets it; 0 or -1. */
int store__run(store *s, sqlite3_stmt *q, const char *what);
/* Steps once: 1 with a row (caller reads it, then calls store__reset),
 * 0 when done (already reset), -1 on error (already reset). */
int store__step(store *s, sqlite3_stmt *q, const char *what);
void store__reset(sqlite3_stmt *q);
/* Drains a RETURNING statement so its change completes, then resets. */
void store__finish(sqlite3_stmt *q);
/* Copies a text column ("" for NULL). */
void store__copy_col(sqlite3_stmt *q, int col, char *out, size_t cap);

/* Prepares the rule-state statements into s->rq (store_rules_sqlite.c). */
int store__prepare_rules(store *s, char *err, size_t errlen);
/* Prepares the outbox statements into s->oq (store_outbox_sqlite.c). */
int store__prepare_outbox(store *s, char *err, size_t errlen);

#endif
