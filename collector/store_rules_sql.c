/* store_rules_sql: store_rules.h on the rule_* tables of common/db.c,
 * through the storage seam (sqldb.h): the same portable SQL on SQLite and
 * on PostgreSQL. */
#include "store_rules.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_sql_int.h"

enum {
    RQ_CART_INSERT, RQ_CART_CLAIM, RQ_CART_GET, RQ_LOAD_GET, RQ_LOAD_PUT, RQ_GRIP_PUT, RQ_GRIPS_OF_LOAD,
    RQ_RECALL_LOADS, RQ_RECALL_LOADS_N, RQ_RECALL_GRIPS, RQ_RECALL_GRIPS_N, RQ_STER_TOUCH,
    RQ_STER_GET, RQ_STER_NEGATIVE, RQ_STER_FLAG, RQ_STER_UNTESTED, RQ_DEV_HEARD,
    RQ_SESSION_OPEN, RQ_SESSION_CLOSE, RQ_DEV_SILENT, RQ_GRIP_GET, RQ_PENDING_PUT,
    RQ_PENDING_DROP, RQ_ALERT_WITHDRAW, RQ_RECORD_TS, RQ_CYCLE_CLAIM, RQ_CYCLE_GET, RQ_TEST_CLAIM,
    RQ_TEST_GET, RQ_STATE_RESET, RQ_REMOVED_AFTER, RQ_SESSION_AT, RQ_COUNT
};
static_assert(RQ_COUNT <= STORE_RULE_STMTS, "raise STORE_RULE_STMTS");

#define GRIP_COLS "g.device_id, g.seq, g.ts, g.load_id, g.grip_id, g.session_id, " \
                  "CASE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.rule = 'R5' AND " \
                  "a.device_id = g.device_id AND a.cleared_at IS NULL) THEN 1 ELSE 0 END"
#define LOAD_COLS "l.device_id, l.seq, l.ts, l.load_id, l.sterilizer_id, l.passed"
/* owner: the sterilizer's own id once it is registered in the clinic. */
#define STER_COLS "clinic, sterilizer_id, home_device, first_seen_ts, " \
                  "COALESCE(last_negative_ts, ''), COALESCE(flagged_ts, ''), " \
                  "CASE WHEN EXISTS (SELECT 1 FROM sterilizers x WHERE " \
                  "x.sterilizer_id = rule_sterilizers.sterilizer_id AND " \
                  "x.clinic = rule_sterilizers.clinic) THEN sterilizer_id ELSE '' END"
/* json_extract gives text on PostgreSQL and a number on SQLite: compare
 * numbers as BIGINT on both. */
#define JSON_INT(doc, key) "CAST(json_extract(" doc ", '$." key "') AS BIGINT)"
/* Loads of a sterilizer processed inside a window: R7's recall set. */
#define RECALL_WHERE "l.clinic = ?1 AND l.sterilizer_id = ?2 AND l.ts > ?3 AND l.ts < ?4"
/* ...less the test-only cycles: a test of the clinic, logged by any of its
 * devices after the cycle, names it (sterilizer and cycle_no), and no grip
 * came from its load. */
#define HAS_GRIPS "EXISTS (SELECT 1 FROM rule_grips g2 WHERE g2.clinic = l.clinic AND " \
                  "g2.load_id = l.load_id)"
/* Records of one type are read through records_compliance (device, type,
 * ts): records have no index by type alone (one fewer index entry for every
 * stored record). SQLite takes that partial index only when the query
 * repeats its condition (common/db.h); PostgreSQL proves it from the type
 * itself, and the repeated condition is true there too. CROSS JOIN keeps
 * SQLite to that order (the clinic's devices, then each one's records of the
 * type), which it would otherwise not choose without statistics;
 * PostgreSQL plans it as any join. */
#define COMPLIANT(alias) alias ".type NOT IN " DB_NOT_COMPLIANCE_TYPES
#define TEST_ONLY "EXISTS (SELECT 1 FROM records c CROSS JOIN devices td CROSS JOIN records t " \
                  "WHERE c.device_id = l.device_id AND c.seq = l.seq AND td.clinic = l.clinic " \
                  "AND t.device_id = td.device_id AND t.type = 'sterilization.test' " \
                  "AND " COMPLIANT("t") " AND t.ts >= c.ts " \
                  "AND json_extract(t.body, '$.sterilizer_id') = l.sterilizer_id " \
                  "AND " JSON_INT("t.body", "cycle_no") " = " JSON_INT("c.body", "cycle_no") ")"
#define RECALL_LOADS_WHERE RECALL_WHERE " AND (" HAS_GRIPS " OR NOT " TEST_ONLY ")"
/* Two-argument max/min are not portable: CASE. */
#define LATER(a, b) "CASE WHEN " b " > " a " THEN " b " ELSE " a " END"
#define EARLIER(a, b) "CASE WHEN " b " < " a " THEN " b " ELSE " a " END"

static const char *const sql[RQ_COUNT] = {
    /* The primary key decides the first use, also between collectors: an
     * insert of a uid another transaction has just inserted waits for it
     * and then does nothing (store_cartridge_first_use). */
    [RQ_CART_INSERT] = "INSERT INTO rule_cartridges(cartridge_uid, device_id, session_id, seq, ts) "
                       "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    /* store_cartridge_claim_ahead: one row changed when the use is the
     * first or a re-insert in the session of the first (a no-op update);
     * none, so the statement fails its row count, for a reuse. */
    [RQ_CART_CLAIM] = "INSERT INTO rule_cartridges(cartridge_uid, device_id, session_id, seq, ts) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cartridge_uid) DO UPDATE SET "
                      "cartridge_uid = excluded.cartridge_uid "
                      "WHERE rule_cartridges.device_id = excluded.device_id "
                      "AND rule_cartridges.session_id = excluded.session_id",
    [RQ_CART_GET] = "SELECT device_id, seq, ts, session_id FROM rule_cartridges "
                    "WHERE cartridge_uid = ?1",
    /* With its sterilizer's dates (rule_recall_dates): R5 judges a grip's
     * load and the recall of its sterilizer from one read. */
    [RQ_LOAD_GET] = "SELECT " LOAD_COLS ", CASE WHEN s.sterilizer_id IS NULL THEN 0 ELSE 1 END, "
                    "COALESCE(s.last_negative_ts, ''), COALESCE(s.flagged_ts, '') "
                    "FROM rule_loads l LEFT JOIN rule_sterilizers s "
                    "ON s.clinic = l.clinic AND s.sterilizer_id = l.sterilizer_id "
                    "WHERE l.clinic = ?1 AND l.load_id = ?2",
    /* The latest cycle by device time wins whichever arrives last. */
    [RQ_LOAD_PUT] = "INSERT INTO rule_loads(clinic, load_id, sterilizer_id, device_id, seq, ts, passed) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(clinic, load_id) DO UPDATE SET "
                    "sterilizer_id = excluded.sterilizer_id, device_id = excluded.device_id, "
                    "seq = excluded.seq, ts = excluded.ts, passed = excluded.passed "
                    "WHERE excluded.ts >= rule_loads.ts",
    [RQ_GRIP_PUT] = "INSERT INTO rule_grips(device_id, seq, ts, load_id, grip_id, session_id, clinic) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    [RQ_GRIPS_OF_LOAD] = "SELECT " GRIP_COLS " FROM rule_grips g WHERE g.clinic = ?1 AND "
                         "g.load_id = ?2 AND g.ts >= ?3 ORDER BY g.ts, g.device_id, g.seq LIMIT ?4",
    [RQ_RECALL_LOADS] = "SELECT " LOAD_COLS " FROM rule_loads l WHERE " RECALL_LOADS_WHERE
                        " ORDER BY l.ts, l.load_id LIMIT ?5",
    [RQ_RECALL_LOADS_N] = "SELECT count(*) FROM rule_loads l WHERE " RECALL_LOADS_WHERE,
    [RQ_RECALL_GRIPS] = "SELECT " GRIP_COLS " FROM rule_grips g JOIN rule_loads l ON "
                        "l.clinic = g.clinic AND l.load_id = g.load_id WHERE " RECALL_WHERE
                        " ORDER BY g.ts, g.device_id, g.seq LIMIT ?5",
    [RQ_RECALL_GRIPS_N] = "SELECT count(*) FROM rule_grips g JOIN rule_loads l ON "
                          "l.clinic = g.clinic AND l.load_id = g.load_id WHERE " RECALL_WHERE,
    /* A record older than the first sighting (sent late) moves it back. */
    [RQ_STER_TOUCH] = "INSERT INTO rule_sterilizers(clinic, sterilizer_id, home_device, first_seen_ts) "
                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(clinic, sterilizer_id) DO UPDATE SET "
                      "first_seen_ts = " EARLIER("rule_sterilizers.first_seen_ts",
                                                 "excluded.first_seen_ts"),
    [RQ_STER_GET] = "SELECT " STER_COLS " FROM rule_sterilizers WHERE clinic = ?1 AND sterilizer_id = ?2",
    /* flagged_ts stays: a later negative is what lifts the flag, and the
     * last positive tells R5 whether a recall can concern a load. */
    [RQ_STER_NEGATIVE] = "UPDATE rule_sterilizers SET last_negative_ts = "
                         LATER("COALESCE(last_negative_ts, '')", "CAST(?3 AS TEXT)")
                         " WHERE clinic = ?1 AND sterilizer_id = ?2",
    [RQ_STER_FLAG] = "UPDATE rule_sterilizers SET flagged_ts = "
                     LATER("COALESCE(flagged_ts, '')", "CAST(?3 AS TEXT)")
                     " WHERE clinic = ?1 AND sterilizer_id = ?2",
    [RQ_STER_UNTESTED] = "SELECT " STER_COLS " FROM rule_sterilizers "
                         "WHERE COALESCE(last_negative_ts, first_seen_ts) < ?1 "
                         "ORDER BY clinic, sterilizer_id",
    [RQ_DEV_HEARD] = "INSERT INTO rule_devices(device_id, clinic, last_received_at) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT(device_id) DO UPDATE SET clinic = excluded.clinic, "
                     "last_received_at = " LATER("rule_devices.last_received_at",
                                                 "excluded.last_received_at"),
    /* A device's first session record makes its row (heard now: the
     * message's store_device_heard then keeps it current). */
    [RQ_SESSION_OPEN] = "INSERT INTO rule_devices(device_id, clinic, last_received_at, "
                        "open_session, open_seq) VALUES (?1, ?4, ?5, ?2, ?3) "
                        "ON CONFLICT(device_id) DO UPDATE SET open_session = excluded.open_session, "
                        "open_seq = excluded.open_seq WHERE excluded.open_seq > rule_devices.open_seq "
                        "AND excluded.open_seq > rule_devices.closed_seq",
    [RQ_SESSION_CLOSE] = "INSERT INTO rule_devices(device_id, clinic, last_received_at, closed_seq) "
                         "VALUES (?1, ?3, ?4, ?2) "
                         "ON CONFLICT(device_id) DO UPDATE SET open_session = NULL, "
                         "closed_seq = excluded.closed_seq WHERE excluded.closed_seq > "
                         "rule_devices.open_seq AND excluded.closed_seq > rule_devices.closed_seq",
    [RQ_DEV_SILENT] = "SELECT r.device_id, r.clinic, r.open_session, r.last_received_at "
                      "FROM rule_devices r JOIN devices d ON d.device_id = r.device_id "
                      "WHERE r.open_session IS NOT NULL AND r.last_received_at < ?1 "
                      "AND d.retired_at IS NULL ORDER BY r.device_id",
    [RQ_GRIP_GET] = "SELECT " GRIP_COLS ", g.clinic FROM rule_grips g "
                    "WHERE g.device_id = ?1 AND g.seq = ?2",
    /* Not an alert yet: cleared_at is set so that no reader counts it open. */
    [RQ_PENDING_PUT] = "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, "
                       "evidence, raised_at, cleared_at, state) VALUES ('R5', 'pending', ?1, ?2, "
                       "'pending:' || CAST(?3 AS TEXT), 'grip waiting for its load''s cycle', '{}', "
                       "?4, ?4, 'pending') ON CONFLICT DO NOTHING",
    [RQ_PENDING_DROP] = "DELETE FROM alerts WHERE id = ?1 AND state = 'pending'",
    [RQ_ALERT_WITHDRAW] = "UPDATE alerts SET cleared_at = ?4, state = 'withdrawn' WHERE rule = ?1 "
                          "AND device_id = ?2 AND cause = ?3 AND cleared_at IS NULL "
                          "RETURNING id, severity, clinic, message, evidence",
    [RQ_RECORD_TS] = "SELECT ts FROM records WHERE device_id = ?1 AND seq = ?2",
    [RQ_CYCLE_CLAIM] = "INSERT INTO rule_cycles(clinic, sterilizer_id, cycle_no, device_id, seq, ts, "
                       "digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    [RQ_CYCLE_GET] = "SELECT device_id, seq, ts, digest FROM rule_cycles "
                     "WHERE clinic = ?1 AND sterilizer_id = ?2 AND cycle_no = ?3",
    [RQ_TEST_CLAIM] = "INSERT INTO rule_tests(clinic, sterilizer_id, digest, device_id, seq, ts) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    [RQ_TEST_GET] = "SELECT device_id, seq, ts, digest FROM rule_tests WHERE clinic = ?1 AND "
                    "sterilizer_id = ?2 AND digest = ?3",
    /* Three that the ingest runs often enough (a counter over a wear limit,
     * an R8 gap, an alert raised again) that preparing them per call was a
     * round trip more each on PostgreSQL. */
    [RQ_STATE_RESET] = "UPDATE alerts SET state = NULL WHERE id = ?1",
    [RQ_REMOVED_AFTER] = "SELECT 1 FROM records WHERE device_id = ?1 AND seq > ?2 "
                         "AND type = 'cartridge.remove' "
                         "AND json_extract(body, '$.cartridge_uid') = ?3 LIMIT 1",
    /* The latest session boundary at or before ?2, and how many records
     * are stored after it up to ?2 (store_session_at). */
    [RQ_SESSION_AT] = "SELECT b.type, json_extract(b.body, '$.session_id'), b.seq, "
                      "(SELECT count(*) FROM records r WHERE r.device_id = ?1 "
                      "AND r.seq > b.seq AND r.seq <= ?2) "
                      "FROM records b WHERE b.device_id = ?1 AND b.seq <= ?2 "
                      "AND b.type IN ('session.start', 'session.end') ORDER BY b.seq DESC LIMIT 1",
};

/* Rare queries (a tick, a positive spore test, a silent device): prepared
 * per call, which keeps s->rq for the statements of the ingest. */
static const char pending_due_sql[] =
    "SELECT id, device_id, substr(cause, 9) FROM alerts WHERE state = 'pending' "
    "AND raised_at < ?1 ORDER BY raised_at, id";
/* The columns of RQ_DEV_SILENT, for one device. */
static const char device_silent_sql[] =
    "SELECT r.device_id, r.clinic, r.open_session, r.last_received_at "
    "FROM rule_devices r JOIN devices d ON d.device_id = r.device_id "
    "WHERE r.device_id = ?2 AND r.open_session IS NOT NULL AND r.last_received_at < ?1 "
    "AND d.retired_at IS NULL";
/* Each test with the time of the cycle that carried it (cts: NULL when not
 * on record), ordered by it in an outer query, since PostgreSQL does not
 * take an output column inside an ORDER BY expression. */
static const char spore_tests_sql[] =
    "SELECT s.device_id, s.seq, s.ts, s.read_ts, s.positive, s.cts FROM ("
    "SELECT t.device_id, t.seq, t.ts, json_extract(t.body, '$.read_ts') AS read_ts, "
    "CASE WHEN json_extract(t.body, '$.result') = 'positive' THEN 1 ELSE 0 END AS positive, "
    "COALESCE((SELECT k.ts FROM rule_cycles k WHERE k.clinic = ?1 AND k.sterilizer_id = ?2 "
    "  AND k.cycle_no = " JSON_INT("t.body", "cycle_no") "), "
    "(SELECT c.ts FROM records c WHERE c.device_id = t.device_id "
    "  AND c.type = 'sterilization.cycle' AND " COMPLIANT("c") " AND c.ts <= t.ts "
    "  AND json_extract(c.body, '$.sterilizer_id') = ?2 "
    "  AND " JSON_INT("c.body", "cycle_no") " = " JSON_INT("t.body", "cycle_no")
    "  ORDER BY c.ts DESC LIMIT 1)) AS cts "
    "FROM devices d CROSS JOIN records t "
    "WHERE t.device_id = d.device_id AND d.clinic = ?1 AND t.type = 'sterilization.test' AND " COMPLIANT("t") " AND t.ts >= ?3 "
    "AND json_extract(t.body, '$.kind') = 'spore' "
    "AND json_extract(t.body, '$.sterilizer_id') = ?2 "
    "AND json_extract(t.body, '$.result') IN ('positive', 'negative')) AS s "
    "ORDER BY COALESCE(s.cts, s.ts), s.ts, s.device_id, s.seq";

int store__prepare_rules(store *s, char *err, size_t errlen)
{
    for (int i = 0; i < RQ_COUNT; i++) {
        if (sqldb_prepare(s->db, sql[i], &s->rq[i]) != 0) {
            snprintf(err, errlen, "database %s: preparing rule statement %d: %s",
                     sqldb_name(s->db), i, sqldb_errmsg(s->db));
            return -1;
        }
    }
    return 0;
}

/* Binding: each returns 0 or -1 (sqldb copies the values), so that a
 * function binds with one chain of || and then bind_failed. */
static int bind_text(sqldb_stmt *q, int col, const char *v)
{
    return sqldb_bind_text(q, col, v);
}

static int bind_int(sqldb_stmt *q, int col, int64_t v)
{
    return sqldb_bind_int64(q, col, v);
}

/* Binds device, seq, ts at col, col+1, col+2. */
static int bind_ref(sqldb_stmt *q, int col, const rule_ref *r)
{
    return bind_text(q, col, r->device) || bind_int(q, col + 1, (int64_t)r->seq) ||
           bind_text(q, col + 2, r->ts);
}

/* After a failed bind: the reason into s->err, q reset; returns -1. */
static int bind_failed(store *s, sqldb_stmt *q, const char *what)
{
    store__failed(s, what);
    store__reset(q);
    return -1;
}

static void read_ref(sqldb_stmt *q, int col, rule_ref *r)
{
    store__copy_col(q, col, r->device, sizeof r->device);
    r->seq = (uint64_t)sqldb_column_int64(q, col + 1);
    store__copy_col(q, col + 2, r->ts, sizeof r->ts);
}

static void read_grip(sqldb_stmt *q, rule_grip *g)
{
    read_ref(q, 0, &g->use);
    store__copy_col(q, 3, g->load_id, sizeof g->load_id);
    store__copy_col(q, 4, g->grip_id, sizeof g->grip_id);
    store__copy_col(q, 5, g->session_id, sizeof g->session_id);
    g->r5_open = sqldb_column_int64(q, 6) != 0;
}

static void read_load(sqldb_stmt *q, rule_load *l)
{
    read_ref(q, 0, &l->cycle);
    store__copy_col(q, 3, l->load_id, sizeof l->load_id);
    store__copy_col(q, 4, l->sterilizer_id, sizeof l->sterilizer_id);
    l->passed = sqldb_column_int64(q, 5) != 0;
}

static void read_sterilizer(sqldb_stmt *q, rule_sterilizer *st)
{
    store__copy_col(q, 0, st->clinic, sizeof st->clinic);
    store__copy_col(q, 1, st->sterilizer_id, sizeof st->sterilizer_id);
    store__copy_col(q, 2, st->home_device, sizeof st->home_device);
    store__copy_col(q, 3, st->first_seen_ts, sizeof st->first_seen_ts);
    store__copy_col(q, 4, st->last_negative_ts, sizeof st->last_negative_ts);
    store__copy_col(q, 5, st->flagged_ts, sizeof st->flagged_ts);
    store__copy_col(q, 6, st->owner, sizeof st->owner);
}

static void read_silent(sqldb_stmt *q, rule_silent *d)
{
    store__copy_col(q, 0, d->device, sizeof d->device);
    store__copy_col(q, 1, d->clinic, sizeof d->clinic);
    store__copy_col(q, 2, d->session_id, sizeof d->session_id);
    store__copy_col(q, 3, d->last_received_at, sizeof d->last_received_at);
}

static int count_of(store *s, sqldb_stmt *q, int64_t *out, const char *what)
{
    int rc = store__step(s, q, what);
    *out = rc == 1 ? sqldb_column_int64(q, 0) : 0;
    if (rc == 1)
        store__reset(q);
    return rc < 0 ? -1 : 0;
}

/* Prepares a rare statement; the caller finalizes it. */
static sqldb_stmt *prepare_once(store *s, const char *sql_text, const char *what)
{
    sqldb_stmt *q = NULL;
    if (sqldb_prepare(s->db, sql_text, &q) != 0) {
        store__failed(s, what);
        return NULL;
    }
    return q;
}

/* ---- several collectors -------------------------------------------------- */

int store_lock_clinic(store *s, const char *clinic)
{
    char key[RECORD_STR_MAX + 8];

    snprintf(key, sizeof key, "clinic:%s", clinic);
    return sqldb_lock(s->db, key) == 0 ? 0 : store__failed(s, "clinic lock");
}

int store_lock_clinic_shared(store *s, const char *clinic)
{
    char key[RECORD_STR_MAX + 8];

    snprintf(key, sizeof key, "clinic:%s", clinic);
    return sqldb_lock_shared(s->db, key) == 0 ? 0 : store__failed(s, "clinic lock (shared)");
}

int store_timer_leader(store *s, bool *leader)
{
    *leader = false;
    return sqldb_try_lock_session(s->db, STORE_TIMER_LOCK, leader) == 0
               ? 0
               : store__failed(s, "rules timer leader lock");
}

/* ---- the clinic's calendar ---------------------------------------------- */

/* Asked only when a date decides (R2 for an insert from its expiry's UTC
 * date on, R6 for a sterilizer near or past its due day, a negative spore
 * test): prepared per call. */
static const char clinic_timezone_sql[] = "SELECT timezone FROM clinics WHERE clinic_id = ?1";

int store_clinic_timezone(store *s, const char *clinic, char tz[TZLOCAL_NAME_MAX + 1])
{
    sqldb_stmt *q = prepare_once(s, clinic_timezone_sql, "clinic timezone");
    int rc;

    tz[0] = '\0';
    if (!q)
        return -1;
    if (bind_text(q, 1, clinic)) {
        rc = store__failed(s, "clinic timezone");
    } else if ((rc = store__step(s, q, "clinic timezone")) == 1) {
        store__copy_col(q, 0, tz, TZLOCAL_NAME_MAX + 1);
        store__reset(q);
    }
    sqldb_finalize(q);
    return rc;
}

/* ---- R1 ------------------------------------------------------------------ */

int store_cartridge_claim_ahead(store *s, const char *uid, const rule_ref *use,
                                const char *session_id)
{
    sqldb_stmt *q = s->rq[RQ_CART_CLAIM];

    /* SQLite would run it at once and gain nothing: a reuse would only
     * send the group through again. */
    if (sqldb_kind_of(s->db) != SQLDB_POSTGRES)
        return 0;
    if (bind_text(q, 1, uid) || bind_text(q, 2, use->device) || bind_text(q, 3, session_id) ||
        bind_int(q, 4, (int64_t)use->seq) || bind_text(q, 5, use->ts))
        return bind_failed(s, q, "cartridge claim");
    return sqldb_run_deferred(q, 1) == 0 ? 1 : store__failed(s, "cartridge claim");
}

int store_cartridge_first_use(store *s, const char *uid, const rule_ref *use,
                              const char *session_id, rule_ref *first,
                              char first_session[RECORD_STR_MAX + 1])
{
    sqldb_stmt *q = s->rq[RQ_CART_INSERT];
    int rc;

    if (bind_text(q, 1, uid) || bind_text(q, 2, use->device) || bind_text(q, 3, session_id) ||
        bind_int(q, 4, (int64_t)use->seq) || bind_text(q, 5, use->ts))
        return bind_failed(s, q, "cartridge insert");
    if (store__run(s, q, "cartridge insert") != 0)
        return -1;
    if (sqldb_changes(s->db) == 1)
        return 0;
    /* A new statement: under READ COMMITTED it sees the first use that
     * another collector's transaction committed while the insert waited. */
    q = s->rq[RQ_CART_GET];
    if (bind_text(q, 1, uid))
        return bind_failed(s, q, "cartridge lookup");
    if ((rc = store__step(s, q, "cartridge lookup")) != 1)
        return rc == 0 ? store__failed(s, "cartridge lookup: row vanished") : -1;
    read_ref(q, 0, first);
    store__copy_col(q, 3, first_session, RECORD_STR_MAX + 1);
    store__reset(q);
    return 1;
}

/* ---- R4, R5, R7 ---------------------------------------------------------- */

/* What a load's read is sent ahead for: a clinic and a load id are each
 * at most RECORD_STR_MAX bytes without control characters, so the key
 * holds both whole and apart. */
static void load_key(char *key, size_t cap, const char *clinic, const char *load_id)
{
    snprintf(key, cap, "%s\n%s", clinic, load_id);
}

void store_load_ahead_drop(store *s)
{
    store__ahead_drop(&s->load_ahead, s->rq[RQ_LOAD_GET]);
}

int store_load_get_ahead(store *s, const char *clinic, const char *load_id)
{
    sqldb_stmt *q = s->rq[RQ_LOAD_GET];
    char key[sizeof s->load_ahead.key];

    store_load_ahead_drop(s);
    if (sqldb_kind_of(s->db) == SQLDB_SQLITE)
        return 0;
    /* Read under the clinic's lock, as the grip's judgement is: taken
     * again (at no cost) by rules_grip. */
    if (store_lock_clinic_shared(s, clinic) != 0)
        return -1;
    if (bind_text(q, 1, clinic) || bind_text(q, 2, load_id))
        return bind_failed(s, q, "load lookup");
    load_key(key, sizeof key, clinic, load_id);
    return store__ahead_send(s, &s->load_ahead, q, key, "load lookup");
}

int store_load_get(store *s, const char *clinic, const char *load_id, rule_load *out,
                   rule_recall_dates *dates)
{
    sqldb_stmt *q = s->rq[RQ_LOAD_GET];
    char key[sizeof s->load_ahead.key];
    int rc;

    load_key(key, sizeof key, clinic, load_id);
    if (!store__ahead_take(&s->load_ahead, q, key) &&
        (bind_text(q, 1, clinic) || bind_text(q, 2, load_id)))
        return bind_failed(s, q, "load lookup");
    if ((rc = store__step(s, q, "load lookup")) == 1) {
        read_load(q, out);
        if (dates) {
            dates->known = sqldb_column_int64(q, 6) != 0;
            store__copy_col(q, 7, dates->last_negative_ts, sizeof dates->last_negative_ts);
            store__copy_col(q, 8, dates->flagged_ts, sizeof dates->flagged_ts);
        }
        store__reset(q);
    }
    return rc;
}

int store_load_put(store *s, const char *clinic, const rule_load *l)
{
    sqldb_stmt *q = s->rq[RQ_LOAD_PUT];

    if (bind_text(q, 1, clinic) || bind_text(q, 2, l->load_id) ||
        bind_text(q, 3, l->sterilizer_id) || bind_ref(q, 4, &l->cycle) ||
        bind_int(q, 7, l->passed ? 1 : 0))
        return bind_failed(s, q, "load update");
    return store__deferred(s, q, "load update");
}

/* The second half of a claim: claim (its key bound) inserts the record
 * unless its key is held, get (the same key bound) reads who holds it. */
static int claim_fact(store *s, sqldb_stmt *claim, sqldb_stmt *get, const rule_ref *ref,
                      const char *digest, rule_ref *first, store_fact_state *out,
                      const char *what)
{
    char held[RECORD_HASH_HEX];
    int rc;

    if (store__deferred(s, claim, what) != 0)
        return -1;
    if ((rc = store__step(s, get, what)) != 1) {
        if (rc == 0)
            snprintf(s->err, sizeof s->err, "%s: the claimed row vanished", what);
        return -1;
    }
    read_ref(get, 0, first);
    store__copy_col(get, 3, held, sizeof held);
    store__reset(get);
    if (strcmp(first->device, ref->device) == 0 && first->seq == ref->seq)
        *out = STORE_FACT_NEW;
    else
        *out = strcmp(held, digest) == 0 ? STORE_FACT_SAME : STORE_FACT_OTHER;
    return 0;
}

int store_cycle_claim(store *s, const char *clinic, const char *sterilizer_id, int64_t cycle_no,
                      const rule_ref *cycle, const char *digest, rule_ref *first,
                      store_fact_state *out)
{
    sqldb_stmt *claim = s->rq[RQ_CYCLE_CLAIM], *get = s->rq[RQ_CYCLE_GET];

    if (bind_text(claim, 1, clinic) || bind_text(claim, 2, sterilizer_id) ||
        bind_int(claim, 3, cycle_no) || bind_ref(claim, 4, cycle) || bind_text(claim, 7, digest))
        return bind_failed(s, claim, "cycle claim");
    if (bind_text(get, 1, clinic) || bind_text(get, 2, sterilizer_id) || bind_int(get, 3, cycle_no))
        return bind_failed(s, get, "cycle lookup");
    return claim_fact(s, claim, get, cycle, digest, first, out, "cycle claim");
}

int store_test_claim(store *s, const char *clinic, const char *sterilizer_id,
                     const rule_ref *test, const char *digest, rule_ref *first,
                     store_fact_state *out)
{
    sqldb_stmt *claim = s->rq[RQ_TEST_CLAIM], *get = s->rq[RQ_TEST_GET];

    if (bind_text(claim, 1, clinic) || bind_text(claim, 2, sterilizer_id) ||
        bind_text(claim, 3, digest) || bind_ref(claim, 4, test))
        return bind_failed(s, claim, "test claim");
    if (bind_text(get, 1, clinic) || bind_text(get, 2, sterilizer_id) || bind_text(get, 3, digest))
        return bind_failed(s, get, "test lookup");
    return claim_fact(s, claim, get, test, digest, first, out, "test claim");
}

int store_grip_put(store *s, const char *clinic, const rule_grip *g)
{
    sqldb_stmt *q = s->rq[RQ_GRIP_PUT];

    if (bind_ref(q, 1, &g->use) || bind_text(q, 4, g->load_id) || bind_text(q, 5, g->grip_id) ||
        bind_text(q, 6, g->session_id) || bind_text(q, 7, clinic))
        return bind_failed(s, q, "grip insert");
    return store__deferred(s, q, "grip insert");
}

/* Steps q, handing each grip row to fn; stops at fn's first non-zero. */
static int each_grip(store *s, sqldb_stmt *q, store_grip_fn fn, void *ctx, const char *what)
{
    rule_grip g;
    int rc;

    while ((rc = store__step(s, q, what)) == 1) {
        read_grip(q, &g);
        if (fn(ctx, &g) != 0) {
            store__reset(q);
            return -1;
        }
    }
    return rc;
}

int store_grips_of_load(store *s, const char *clinic, const char *load_id, const char *since_ts,
                        int max, store_grip_fn fn, void *ctx)
{
    sqldb_stmt *q = s->rq[RQ_GRIPS_OF_LOAD];

    if (bind_text(q, 1, clinic) || bind_text(q, 2, load_id) || bind_text(q, 3, since_ts) ||
        bind_int(q, 4, max))
        return bind_failed(s, q, "grips of load");
    return each_grip(s, q, fn, ctx, "grips of load");
}

static int bind_recall(sqldb_stmt *q, const char *clinic, const char *sterilizer_id,
                       const char *from_ts, const char *until_ts)
{
    return bind_text(q, 1, clinic) || bind_text(q, 2, sterilizer_id) ||
           bind_text(q, 3, from_ts) || bind_text(q, 4, until_ts);
}

/* The count statement n of a recall list into *total. */
static int recall_count(store *s, int n, const char *clinic, const char *sterilizer_id,
                        const char *from_ts, const char *until_ts, int64_t *total,
                        const char *what)
{
    sqldb_stmt *q = s->rq[n];

    if (bind_recall(q, clinic, sterilizer_id, from_ts, until_ts))
        return bind_failed(s, q, what);
    return count_of(s, q, total, what);
}

int store_recall_loads(store *s, const char *clinic, const char *sterilizer_id,
                       const char *from_ts, const char *until_ts, int max, store_load_fn fn,
                       void *ctx, int64_t *total)
{
    sqldb_stmt *q = s->rq[RQ_RECALL_LOADS];
    rule_load l;
    int rc;

    if (recall_count(s, RQ_RECALL_LOADS_N, clinic, sterilizer_id, from_ts, until_ts, total,
                     "recall load count") != 0)
        return -1;
    if (bind_recall(q, clinic, sterilizer_id, from_ts, until_ts) || bind_int(q, 5, max))
        return bind_failed(s, q, "recall loads");
    while ((rc = store__step(s, q, "recall loads")) == 1) {
        read_load(q, &l);
        if (fn(ctx, &l) != 0) {
            store__reset(q);
            return -1;
        }
    }
    return rc;
}

int store_recall_grips(store *s, const char *clinic, const char *sterilizer_id,
                       const char *from_ts, const char *until_ts, int max, store_grip_fn fn,
                       void *ctx, int64_t *total)
{
    sqldb_stmt *q = s->rq[RQ_RECALL_GRIPS];

    if (recall_count(s, RQ_RECALL_GRIPS_N, clinic, sterilizer_id, from_ts, until_ts, total,
                     "recall grip count") != 0)
        return -1;
    if (bind_recall(q, clinic, sterilizer_id, from_ts, until_ts) || bind_int(q, 5, max))
        return bind_failed(s, q, "recall grips");
    return each_grip(s, q, fn, ctx, "recall grips");
}

int store_grip_get(store *s, const char *device, uint64_t seq, rule_grip *out,
                   char clinic[RECORD_STR_MAX + 1])
{
    sqldb_stmt *q = s->rq[RQ_GRIP_GET];
    int rc;

    if (bind_text(q, 1, device) || bind_int(q, 2, (int64_t)seq))
        return bind_failed(s, q, "grip lookup");
    if ((rc = store__step(s, q, "grip lookup")) == 1) {
        read_grip(q, out);
        store__copy_col(q, 7, clinic, RECORD_STR_MAX + 1);
        store__reset(q);
    }
    return rc;
}

static void read_spore(sqldb_stmt *q, rule_spore *t)
{
    read_ref(q, 0, &t->test);
    store__copy_col(q, 3, t->read_ts, sizeof t->read_ts);
    t->positive = sqldb_column_int64(q, 4) != 0;
    t->cycle_on_record = !sqldb_column_null(q, 5);
    store__copy_col(q, t->cycle_on_record ? 5 : 2, t->cycle_ts, sizeof t->cycle_ts);
}

int store_spore_tests(store *s, const char *clinic, const char *sterilizer_id,
                      const char *since_ts, rule_spore *out, int max, int *n)
{
    sqldb_stmt *q = prepare_once(s, spore_tests_sql, "spore tests");
    int rc = -1;

    *n = 0;
    if (!q)
        return -1;
    if (bind_text(q, 1, clinic) || bind_text(q, 2, sterilizer_id) || bind_text(q, 3, since_ts)) {
        store__failed(s, "spore tests");
        goto done;
    }
    while ((rc = store__step(s, q, "spore tests")) == 1) {
        if (*n == max)
            continue;   /* drain: the oldest max are kept */
        read_spore(q, &out[(*n)++]);
    }
done:
    sqldb_finalize(q);
    return rc < 0 ? -1 : 0;
}

/* ---- R5: pending checks, withdrawn alerts -------------------------------- */

int store_pending_put(store *s, const char *clinic, const rule_grip *g, const char *now_ts)
{
    sqldb_stmt *q = s->rq[RQ_PENDING_PUT];
    char seq[24];

    snprintf(seq, sizeof seq, "%llu", (unsigned long long)g->use.seq);
    if (bind_text(q, 1, g->use.device) || bind_text(q, 2, clinic) || bind_text(q, 3, seq) ||
        bind_text(q, 4, now_ts))
        return bind_failed(s, q, "pending check");
    return store__deferred(s, q, "pending check");
}

int store_pending_due(store *s, const char *cutoff_ts, store_pending_fn fn, void *ctx)
{
    sqldb_stmt *q = prepare_once(s, pending_due_sql, "pending checks");
    char device[IDS_DEVICE_ID_MAX + 1], seq[24];
    int rc = -1;

    if (!q)
        return -1;
    if (bind_text(q, 1, cutoff_ts)) {
        store__failed(s, "pending checks");
        goto done;
    }
    while ((rc = store__step(s, q, "pending checks")) == 1) {
        store__copy_col(q, 1, device, sizeof device);
        store__copy_col(q, 2, seq, sizeof seq);
        if (fn(ctx, sqldb_column_int64(q, 0), device, strtoull(seq, NULL, 10)) != 0) {
            rc = -1;
            break;
        }
    }
done:
    sqldb_finalize(q);
    return rc < 0 ? -1 : 0;
}

int store_pending_drop(store *s, int64_t id)
{
    sqldb_stmt *q = s->rq[RQ_PENDING_DROP];

    if (bind_int(q, 1, id))
        return bind_failed(s, q, "pending check drop");
    return store__deferred(s, q, "pending check drop");
}

int store_alert_withdraw(store *s, const char *rule, const char *device, const char *cause,
                         const char *now_ts, alert *out, bool *withdrawn)
{
    sqldb_stmt *q = s->rq[RQ_ALERT_WITHDRAW];
    int rc;

    if (bind_text(q, 1, rule) || bind_text(q, 2, device) || bind_text(q, 3, cause) ||
        bind_text(q, 4, now_ts))
        return bind_failed(s, q, "alert withdraw");
    if ((rc = store__step(s, q, "alert withdraw")) < 0)
        return -1;
    *withdrawn = rc == 1;
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        out->id = sqldb_column_int64(q, 0);
        snprintf(out->rule, sizeof out->rule, "%s", rule);
        snprintf(out->device, sizeof out->device, "%s", device);
        snprintf(out->cause, sizeof out->cause, "%s", cause);
        store__copy_col(q, 1, out->severity, sizeof out->severity);
        store__copy_col(q, 2, out->clinic, sizeof out->clinic);
        store__copy_col(q, 3, out->message, sizeof out->message);
        store__copy_col(q, 4, out->evidence, sizeof out->evidence);
        store__finish(q);
    }
    return 0;
}

int store_alert_state_reset(store *s, int64_t id)
{
    sqldb_stmt *q = s->rq[RQ_STATE_RESET];

    if (bind_int(q, 1, id))
        return bind_failed(s, q, "alert state reset");
    return store__deferred(s, q, "alert state reset");
}

/* ---- R8: device-time gaps ------------------------------------------------ */

int store_record_ts(store *s, const char *device, uint64_t seq, char ts[RECORD_TS_LEN + 1])
{
    sqldb_stmt *q = s->rq[RQ_RECORD_TS];
    int rc;

    if (bind_text(q, 1, device) || bind_int(q, 2, (int64_t)seq))
        return bind_failed(s, q, "record ts");
    if ((rc = store__step(s, q, "record ts")) == 1) {
        store__copy_col(q, 0, ts, RECORD_TS_LEN + 1);
        store__reset(q);
    }
    return rc;
}

int store_cartridge_removed_after(store *s, const char *device, const char *uid, uint64_t seq)
{
    sqldb_stmt *q = s->rq[RQ_REMOVED_AFTER];
    int rc;

    if (bind_text(q, 1, device) || bind_int(q, 2, (int64_t)seq) || bind_text(q, 3, uid))
        return bind_failed(s, q, "cartridge removal lookup");
    if ((rc = store__step(s, q, "cartridge removal lookup")) == 1)
        store__reset(q);
    return rc;
}

int store_session_at(store *s, const char *device, uint64_t seq,
                     char session_id[RECORD_STR_MAX + 1])
{
    sqldb_stmt *q = s->rq[RQ_SESSION_AT];
    int rc, open = 0;

    if (bind_text(q, 1, device) || bind_int(q, 2, (int64_t)seq))
        return bind_failed(s, q, "session lookup");
    if ((rc = store__step(s, q, "session lookup")) == 1) {
        const char *type = sqldb_column_text(q, 0);
        int64_t since = sqldb_column_int64(q, 2), stored_after = sqldb_column_int64(q, 3);
        /* Open only if every record between the start and seq is stored:
         * one of them missing may be this session's end. */
        open = type && strcmp(type, "session.start") == 0 &&
               stored_after == (int64_t)seq - since;
        store__copy_col(q, 1, session_id, RECORD_STR_MAX + 1);
        store__reset(q);
    }
    return rc < 0 ? -1 : open;
}

/* ---- R6, R7 -------------------------------------------------------------- */

int store_sterilizer_touch(store *s, const char *clinic, const char *sterilizer_id,
                           const char *device, const char *ts, rule_sterilizer *out)
{
    sqldb_stmt *q = s->rq[RQ_STER_TOUCH];
    int rc;

    if (bind_text(q, 1, clinic) || bind_text(q, 2, sterilizer_id) || bind_text(q, 3, device) ||
        bind_text(q, 4, ts))
        return bind_failed(s, q, "sterilizer insert");
    if (store__deferred(s, q, "sterilizer insert") != 0)
        return -1;
    if ((rc = store_sterilizer_get(s, clinic, sterilizer_id, out)) != 1)
        return rc == 0 ? store__failed(s, "sterilizer lookup: row vanished") : -1;
    return 0;
}

int store_sterilizer_get(store *s, const char *clinic, const char *sterilizer_id,
                         rule_sterilizer *out)
{
    sqldb_stmt *q = s->rq[RQ_STER_GET];
    int rc;

    if (bind_text(q, 1, clinic) || bind_text(q, 2, sterilizer_id))
        return bind_failed(s, q, "sterilizer lookup");
    if ((rc = store__step(s, q, "sterilizer lookup")) == 1) {
        read_sterilizer(q, out);
        store__reset(q);
    }
    return rc;
}

static int sterilizer_update(store *s, int which, const char *clinic, const char *sterilizer_id,
                             const char *ts)
{
    sqldb_stmt *q = s->rq[which];

    if (bind_text(q, 1, clinic) || bind_text(q, 2, sterilizer_id) || bind_text(q, 3, ts))
        return bind_failed(s, q, "sterilizer update");
    return store__deferred(s, q, "sterilizer update");
}

int store_sterilizer_negative(store *s, const char *clinic, const char *sterilizer_id,
                              const char *ts)
{
    return sterilizer_update(s, RQ_STER_NEGATIVE, clinic, sterilizer_id, ts);
}

int store_sterilizer_flag(store *s, const char *clinic, const char *sterilizer_id, const char *ts)
{
    return sterilizer_update(s, RQ_STER_FLAG, clinic, sterilizer_id, ts);
}

int store_sterilizers_untested_since(store *s, const char *cutoff_ts, store_sterilizer_fn fn,
                                     void *ctx)
{
    sqldb_stmt *q = s->rq[RQ_STER_UNTESTED];
    rule_sterilizer st;
    int rc;

    if (bind_text(q, 1, cutoff_ts))
        return bind_failed(s, q, "untested sterilizers");
    while ((rc = store__step(s, q, "untested sterilizers")) == 1) {
        read_sterilizer(q, &st);
        if (fn(ctx, &st) != 0) {
            store__reset(q);
            return -1;
        }
    }
    return rc;
}

/* ---- R8 ------------------------------------------------------------------ */

int store_device_heard(store *s, const char *device, const char *clinic, const char *now_ts)
{
    sqldb_stmt *q = s->rq[RQ_DEV_HEARD];

    if (bind_text(q, 1, device) || bind_text(q, 2, clinic) || bind_text(q, 3, now_ts))
        return bind_failed(s, q, "device heard");
    return store__deferred(s, q, "device heard");
}

int store_session_open(store *s, const char *device, const char *clinic, const char *session_id,
                       uint64_t seq, const char *now_ts)
{
    sqldb_stmt *q = s->rq[RQ_SESSION_OPEN];

    if (bind_text(q, 1, device) || bind_text(q, 2, session_id) || bind_int(q, 3, (int64_t)seq) ||
        bind_text(q, 4, clinic) || bind_text(q, 5, now_ts))
        return bind_failed(s, q, "session open");
    return store__deferred(s, q, "session open");
}

int store_session_close(store *s, const char *device, const char *clinic, uint64_t seq,
                        const char *now_ts)
{
    sqldb_stmt *q = s->rq[RQ_SESSION_CLOSE];

    if (bind_text(q, 1, device) || bind_int(q, 2, (int64_t)seq) || bind_text(q, 3, clinic) ||
        bind_text(q, 4, now_ts))
        return bind_failed(s, q, "session close");
    return store__deferred(s, q, "session close");
}

int store_devices_silent_since(store *s, const char *cutoff_ts, store_silent_fn fn, void *ctx)
{
    sqldb_stmt *q = s->rq[RQ_DEV_SILENT];
    rule_silent d;
    int rc;

    if (bind_text(q, 1, cutoff_ts))
        return bind_failed(s, q, "silent devices");
    while ((rc = store__step(s, q, "silent devices")) == 1) {
        read_silent(q, &d);
        if (fn(ctx, &d) != 0) {
            store__reset(q);
            return -1;
        }
    }
    return rc;
}

int store_device_silent(store *s, const char *device, const char *cutoff_ts, rule_silent *out)
{
    sqldb_stmt *q = prepare_once(s, device_silent_sql, "silent device");
    int rc = -1;

    if (!q)
        return -1;
    if (bind_text(q, 1, cutoff_ts) || bind_text(q, 2, device)) {
        store__failed(s, "silent device");
        goto done;
    }
    if ((rc = store__step(s, q, "silent device")) == 1)
        read_silent(q, out);
done:
    sqldb_finalize(q);
    return rc;
}
