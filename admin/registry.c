#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "db.h"
#include "rowlist.h"
#include "utf8.h"

#define SELECT_DEVICE                                                         \
    "SELECT device_id, clinic, model, serial, added_at, retired_at,"         \
    " CASE WHEN cert_pem IS NULL THEN 0 ELSE 1 END, kind FROM devices "

/* Messages quote values that came from files or the database; keep them
 * printable and short so a hostile CN cannot garble a terminal. */
static void printable(char *dst, size_t cap, const unsigned char *src, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 1 < cap; i++)
        dst[n++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
    dst[n] = '\0';
}

int registry_check_text(const char *what, const char *text, char *err, size_t errlen)
{
    size_t n = text ? strlen(text) : 0;

    if (n == 0) {
        snprintf(err, errlen, "%s is empty; give a non-empty value", what);
        return -1;
    }
    if (n > REGISTRY_TEXT_MAX) {
        snprintf(err, errlen, "%s is %zu bytes; the limit is %d", what, n, REGISTRY_TEXT_MAX);
        return -1;
    }
    if (utf8_has_control(text, n)) {
        snprintf(err, errlen, "%s has a control character; use plain text", what);
        return -1;
    }
    /* Reports declare UTF-8; a stray Latin-1 byte would print as garbage. */
    if (!utf8_valid(text, n)) {
        snprintf(err, errlen, "%s is not valid UTF-8; re-type it in a UTF-8 terminal", what);
        return -1;
    }
    return 0;
}

/* Length of the Unicode white space character (Zs, and the line and
 * paragraph separators) s starts with, 0 when it starts with none. ASCII
 * space is checked by the caller; control characters by utf8_has_control. */
static size_t unicode_space_len(const unsigned char *s)
{
    if (s[0] == 0xc2 && s[1] == 0xa0)                                   /* U+00A0 */
        return 2;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)                   /* U+1680 */
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8b) ||  /* U+2000..200B */
                                         s[2] == 0xa8 || s[2] == 0xa9 ||    /* U+2028, 2029 */
                                         s[2] == 0xaf))                     /* U+202F */
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)                   /* U+205F */
        return 3;
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)                   /* U+3000 */
        return 3;
    if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)                   /* U+FEFF */
        return 3;
    return 0;
}

int registry_check_clinic(const char *what, const char *clinic, char *err, size_t errlen)
{
    if (registry_check_text(what, clinic, err, errlen) != 0)
        return -1;
    /* A topic level: '/' would split it, '+' and '#' are wildcards in the
     * ACL line that grants a viewer its clinic's alerts. White space would
     * make the ACL line ambiguous (mosquitto splits it on spaces) and the
     * name hard to type at a console. */
    if (strpbrk(clinic, "/+#")) {
        snprintf(err, errlen, "%s '%s' holds '/', '+' or '#'; a clinic is one MQTT topic level "
                 "(smp/v1/alerts/<clinic>): use e.g. main-street", what, clinic);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)clinic; *p; p++) {
        if (*p == ' ' || unicode_space_len(p) > 0) {
            snprintf(err, errlen, "%s '%s' holds white space; a clinic is one MQTT topic level "
                     "(smp/v1/alerts/<clinic>): use '-' instead, e.g. main-street", what, clinic);
            return -1;
        }
    }
    return 0;
}

/* The broker maps the certificate CN to the MQTT username and the ACL to
 * the device's topics, so a cert registered under another id would let a
 * machine publish as a different device. Exactly one CN, equal to the id. */
static int cert_cn_matches(const mbedtls_x509_crt *crt, const char *device_id, char *err,
                           size_t errlen)
{
    const mbedtls_x509_buf *cn = NULL;
    int count = 0;
    char shown[IDS_DEVICE_ID_MAX + 1];

    for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next) {
        if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
            cn = &n->val;
            count++;
        }
    }
    if (count != 1) {
        snprintf(err, errlen, "certificate has %d subject CNs; it needs exactly one, equal to "
                 "the device id '%s'", count, device_id);
        return -1;
    }
    if (cn->len != strlen(device_id) || memcmp(cn->p, device_id, cn->len) != 0) {
        printable(shown, sizeof shown, cn->p, cn->len);
        snprintf(err, errlen, "certificate CN '%s' does not match device id '%s'; issue one with "
                 "'smpctl pki issue-device %s'", shown, device_id, device_id);
        return -1;
    }
    return 0;
}

int registry_check_cert(const char *pem, const char *device_id, char *err, size_t errlen)
{
    mbedtls_x509_crt crt;
    char why[128];
    int ret, rc = -1;

    mbedtls_x509_crt_init(&crt);
    /* The key stays on the machine; storing it here would leak it into
     * every backup and export of the database. */
    if (pem != NULL && strstr(pem, "PRIVATE KEY-----") != NULL) {
        snprintf(err, errlen, "file holds a private key; give the certificate (.crt) alone");
        goto cleanup;
    }
    if (pem == NULL || strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
        snprintf(err, errlen, "not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line); "
                 "a DER file converts with 'openssl x509 -inform der'");
        goto cleanup;
    }
    /* PEM parsing in mbedTLS needs the terminating NUL counted in the length. */
    ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1);
    if (ret != 0) {
        if (ret < 0)
            mbedtls_strerror(ret, why, sizeof why);
        else
            snprintf(why, sizeof why, "%d certificate(s) do not parse", ret);
        snprintf(err, errlen, "certificate does not parse: %s", why);
        goto cleanup;
    }
    if (crt.next != NULL) {
        snprintf(err, errlen, "file holds more than one certificate; give only the device's own");
        goto cleanup;
    }
    rc = cert_cn_matches(&crt, device_id, err, errlen);

cleanup:
    mbedtls_x509_crt_free(&crt);
    return rc;
}

static int check_new(const registry_new *dev, char *err, size_t errlen)
{
    char why[160];

    if (!ids_valid_device_id(dev->device_id, why, sizeof why)) {
        snprintf(err, errlen, "invalid device id: %s", why);
        return -1;
    }
    if (registry_check_clinic("clinic", dev->clinic, err, errlen) != 0)
        return -1;
    if (dev->model && registry_check_text("model", dev->model, err, errlen) != 0)
        return -1;
    if (dev->serial && registry_check_text("serial", dev->serial, err, errlen) != 0)
        return -1;
    if (dev->cert_pem && registry_check_cert(dev->cert_pem, dev->device_id, err, errlen) != 0)
        return -1;
    if (dev->kind && strcmp(dev->kind, REGISTRY_KIND_MACHINE) != 0 &&
        strcmp(dev->kind, REGISTRY_KIND_STERILIZER) != 0) {
        snprintf(err, errlen, "kind '%s' is not a device kind (machine or sterilizer)", dev->kind);
        return -1;
    }
    return 0;
}

static void row_to_device(sqldb_stmt *st, registry_device *out)
{
    memset(out, 0, sizeof *out);
    sqldb_column_copy(st, 0, out->device_id, sizeof out->device_id);
    sqldb_column_copy(st, 1, out->clinic, sizeof out->clinic);
    sqldb_column_copy(st, 2, out->model, sizeof out->model);
    sqldb_column_copy(st, 3, out->serial, sizeof out->serial);
    sqldb_column_copy(st, 4, out->added_at, sizeof out->added_at);
    sqldb_column_copy(st, 5, out->retired_at, sizeof out->retired_at);
    out->has_cert = sqldb_column_int64(st, 6) != 0;
    sqldb_column_copy(st, 7, out->kind, sizeof out->kind);
}

/* Explains why an INSERT found the id taken: ids are never reused, and the
 * message says whether the holder is active or retired. */
static int refuse_existing(sqldb *db, const char *device_id, char *err, size_t errlen)
{
    registry_device old;

    if (registry_get(db, device_id, &old, err, errlen) != 0)
        return -1;
    if (old.retired_at[0])
        snprintf(err, errlen, "device '%s' was retired at %s; ids are never reused, register "
                 "the machine under a new id", device_id, old.retired_at);
    else
        snprintf(err, errlen, "device '%s' is already registered (clinic '%s', added %s)",
                 device_id, old.clinic, old.added_at);
    return -1;
}

/* registry_add's INSERT, inside its transaction. A taken id is left alone
 * (ON CONFLICT DO NOTHING: no statement here is expected to fail, which
 * PostgreSQL would hold against the whole transaction) and explained. */
static int insert_device(sqldb *db, const registry_new *dev, const char *now, char *err,
                         size_t errlen)
{
    static const char sql[] =
        "INSERT INTO devices(device_id, clinic, model, serial, cert_pem, added_at, kind)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (device_id) DO NOTHING";
    sqldb_stmt *st = NULL;
    int rc = -1;

    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "prepare insert device", err, errlen);
    if (sqldb_bind_text(st, 1, dev->device_id) != 0 || sqldb_bind_text(st, 2, dev->clinic) != 0 ||
        sqldb_bind_text(st, 3, dev->model) != 0 || sqldb_bind_text(st, 4, dev->serial) != 0 ||
        sqldb_bind_text(st, 5, dev->cert_pem) != 0 || sqldb_bind_text(st, 6, now) != 0 ||
        sqldb_bind_text(st, 7, dev->kind ? dev->kind : REGISTRY_KIND_MACHINE) != 0)
        db_error(db, "bind insert device", err, errlen);
    else if (sqldb_step(st) != 0)
        db_error(db, "insert device", err, errlen);
    else if (sqldb_changes(db) == 0)
        refuse_existing(db, dev->device_id, err, errlen);
    else
        rc = 0;
    sqldb_finalize(st);
    return rc;
}

/* 1 when id names a sterilizer without an agent of its own, 0 when not. */
static int is_agentless_sterilizer(sqldb *db, const char *id, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT clinic FROM sterilizers WHERE sterilizer_id = ?1 AND device_id IS NULL";
    sqldb_stmt *st = NULL;
    int rc;

    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "prepare sterilizer lookup", err, errlen);
    rc = sqldb_bind_text(st, 1, id) != 0 ? -1 : sqldb_step(st);
    if (rc < 0)
        db_error(db, "sterilizer lookup", err, errlen);
    else if (rc == 1)
        snprintf(err, errlen, "'%s' is a sterilizer of clinic '%s' (smpctl sterilizer list); "
                 "device and sterilizer ids share one namespace: choose another id", id,
                 sqldb_column_text(st, 0));
    sqldb_finalize(st);
    return rc;
}

int registry_insert(sqldb *db, const registry_new *dev, const char *now, char *err,
                    size_t errlen)
{
    if (check_new(dev, err, errlen) != 0)
        return -1;
    if (now == NULL) {
        snprintf(err, errlen, "registry_add: no timestamp given for added_at");
        return -1;
    }
    if (is_agentless_sterilizer(db, dev->device_id, err, errlen) != 0)
        return -1;
    return insert_device(db, dev, now, err, errlen);
}

int registry_add(sqldb *db, const registry_new *dev, const char *now, char *err, size_t errlen)
{
    if (db_begin_write(db, "begin insert device", err, errlen) != 0)
        return -1;
    return db_end_write(db, registry_insert(db, dev, now, err, errlen), "commit insert device",
                        err, errlen);
}

int registry_get(sqldb *db, const char *device_id, registry_device *out, char *err,
                 size_t errlen)
{
    static const char sql[] = SELECT_DEVICE "WHERE device_id = ?1";
    sqldb_stmt *st = NULL;
    int rc = -1, step;

    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "prepare device lookup", err, errlen);
    if (sqldb_bind_text(st, 1, device_id) != 0) {
        db_error(db, "bind device lookup", err, errlen);
        goto cleanup;
    }
    step = sqldb_step(st);
    if (step == 1) {
        row_to_device(st, out);
        rc = 0;
    } else if (step == 0) {
        snprintf(err, errlen, "device '%s' is not registered; see 'smpctl device list'",
                 device_id);
        rc = 1;
    } else {
        db_error(db, "device lookup", err, errlen);
    }

cleanup:
    sqldb_finalize(st);
    return rc;
}

/* registry_retire's UPDATE, inside its transaction. */
static int retire_device(sqldb *db, const char *device_id, const char *now, char *err,
                         size_t errlen)
{
    static const char sql[] =
        "UPDATE devices SET retired_at = ?2 WHERE device_id = ?1 AND retired_at IS NULL";
    sqldb_stmt *st = NULL;
    registry_device old;
    int rc = -1;

    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "prepare retire device", err, errlen);
    if (sqldb_bind_text(st, 1, device_id) != 0 || sqldb_bind_text(st, 2, now) != 0) {
        db_error(db, "bind retire device", err, errlen);
        goto cleanup;
    }
    if (sqldb_step(st) != 0) {
        db_error(db, "retire device", err, errlen);
        goto cleanup;
    }
    if (sqldb_changes(db) == 1) {
        rc = 0;
        goto cleanup;
    }
    /* Nothing changed: unknown id or already retired; say which. */
    if (registry_get(db, device_id, &old, err, errlen) == 0)
        snprintf(err, errlen, "device '%s' was already retired at %s", device_id, old.retired_at);

cleanup:
    sqldb_finalize(st);
    return rc;
}

int registry_retire(sqldb *db, const char *device_id, const char *now, char *err,
                    size_t errlen)
{
    if (db_begin_write(db, "begin retire device", err, errlen) != 0)
        return -1;
    return db_end_write(db, retire_device(db, device_id, now, err, errlen),
                        "commit retire device", err, errlen);
}

/* rowlist_fn */
static void list_row(sqldb_stmt *st, void *entry)
{
    row_to_device(st, entry);
}

int registry_list(sqldb *db, const char *clinic, registry_device **out, size_t *count,
                  char *err, size_t errlen)
{
    /* The CAST gives PostgreSQL the parameter's type where it is first
     * used (a bare "?1 IS NULL" leaves it undetermined). */
    static const char sql[] =
        SELECT_DEVICE "WHERE CAST(?1 AS TEXT) IS NULL OR clinic = ?1 ORDER BY device_id";
    sqldb_stmt *st = NULL;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "prepare device list", err, errlen);
    if (sqldb_bind_text(st, 1, clinic) != 0) {
        sqldb_finalize(st);
        return db_error(db, "bind device list", err, errlen);
    }
    rc = rowlist_collect(db, st, "device list", sizeof **out, list_row, &arr, count, err, errlen);
    *out = arr;
    return rc;
}

/* ---- certificate changes ------------------------------------------------- */

/* The previous certificates of each device go to device_cert_history, part
 * of the shared schema (common/db.c); registered_until is when one stopped
 * being the device's certificate. */

void registry_now(char out[REGISTRY_TS_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, REGISTRY_TS_LEN + 1, "%.19s.%03uZ", base,
             (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* Same certificate, compared as DER so that PEM line endings or trailing
 * text do not make a re-registration look like a change. */
static bool same_cert(const char *a, const char *b)
{
    mbedtls_x509_crt ca, cb;
    bool same;

    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&cb);
    same = mbedtls_x509_crt_parse(&ca, (const unsigned char *)a, strlen(a) + 1) == 0 &&
           mbedtls_x509_crt_parse(&cb, (const unsigned char *)b, strlen(b) + 1) == 0 &&
           ca.raw.len == cb.raw.len && memcmp(ca.raw.p, cb.raw.p, ca.raw.len) == 0;
    mbedtls_x509_crt_free(&cb);
    mbedtls_x509_crt_free(&ca);
    return same;
}

/* Runs one statement with two text parameters and an optional third (NULL
 * p1 or p2 binds NULL; a NULL p3 is not bound: the statement has two). */
static int run_stmt(sqldb *db, const char *sql, const char *p1, const char *p2, const char *p3,
                    const char *what, char *err, size_t errlen)
{
    sqldb_stmt *st = NULL;
    int rc = -1;

    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, p1) != 0 ||
        sqldb_bind_text(st, 2, p2) != 0 || (p3 && sqldb_bind_text(st, 3, p3) != 0) ||
        sqldb_step(st) != 0)
        db_error(db, what, err, errlen);
    else
        rc = 0;
    sqldb_finalize(st);
    return rc;
}

/* Reads the device's retired_at and cert_pem (malloc'ed, NULL when none).
 * Returns 0, 1 when not registered (err says so), -1 on error. */
static int current_cert(sqldb *db, const char *device_id, char *retired, size_t rcap,
                        char **pem, char *err, size_t errlen)
{
    static const char sql[] = "SELECT COALESCE(retired_at, ''), cert_pem FROM devices"
                              " WHERE device_id = ?1";
    sqldb_stmt *st = NULL;
    int rc = -1, step;

    *pem = NULL;
    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, device_id) != 0) {
        db_error(db, "device certificate lookup", err, errlen);
        goto cleanup;
    }
    step = sqldb_step(st);
    if (step == 0) {
        snprintf(err, errlen, "device '%s' is not registered; add it first with 'smpctl device "
                 "add %s --clinic C --cert FILE'", device_id, device_id);
        rc = 1;
        goto cleanup;
    }
    if (step != 1) {
        db_error(db, "device certificate lookup", err, errlen);
        goto cleanup;
    }
    sqldb_column_copy(st, 0, retired, rcap);
    if (!sqldb_column_null(st, 1)) {
        *pem = strdup(sqldb_column_text(st, 1));
        if (!*pem) {
            snprintf(err, errlen, "device certificate lookup: out of memory");
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    sqldb_finalize(st);
    return rc;
}

/* The checks and writes of registry_set_cert, inside its transaction. */
static int set_cert_tx(sqldb *db, const char *device_id, const char *cert_pem, const char *now,
                       bool only_if_none, registry_cert_change *change, char *err, size_t errlen)
{
    char retired[REGISTRY_TS_LEN + 1];
    char *old = NULL;
    int rc = -1;

    if (current_cert(db, device_id, retired, sizeof retired, &old, err, errlen) != 0)
        return -1;
    if (retired[0]) {
        snprintf(err, errlen, "device '%s' was retired at %s; a retired device gets no new "
                 "certificate (ids are never reused: register the machine under a new id)",
                 device_id, retired);
        goto cleanup;
    }
    if (old && only_if_none) {
        snprintf(err, errlen, "device '%s' already has a certificate; use 'smpctl device replace "
                 "%s --cert FILE' to change it (the current one is kept in its history)",
                 device_id, device_id);
        goto cleanup;
    }
    if (old && same_cert(old, cert_pem)) {
        *change = REGISTRY_CERT_UNCHANGED;
        rc = 0;
        goto cleanup;
    }
    if (old && run_stmt(db, "INSERT INTO device_cert_history(device_id, cert_pem, registered_until)"
                            " VALUES (?1, ?2, ?3)", device_id, old, now,
                        "keep the previous certificate", err, errlen) != 0)
        goto cleanup;
    if (run_stmt(db, "UPDATE devices SET cert_pem = ?2 WHERE device_id = ?1", device_id, cert_pem,
                 NULL, "store the new certificate", err, errlen) != 0)
        goto cleanup;
    *change = old ? REGISTRY_CERT_REPLACED : REGISTRY_CERT_FIRST;
    rc = 0;
cleanup:
    free(old);
    return rc;
}

/* Holds the device's lock for the rest of the transaction: on PostgreSQL
 * (READ COMMITTED) two changes of one device's certificate would otherwise
 * both read the same current one and both file it in the history. The
 * collectors take the same lock for each device they store, so the switch
 * also falls between two of their batches. SQLite: SQLDB_WRITE is enough. */
static int lock_device(sqldb *db, const char *device_id, char *err, size_t errlen)
{
    char key[IDS_DEVICE_ID_MAX + 16];

    snprintf(key, sizeof key, "device:%s", device_id);
    return sqldb_lock(db, key) == 0 ? 0 : db_error(db, "lock the device", err, errlen);
}

int registry_set_cert(sqldb *db, const char *device_id, const char *cert_pem, const char *now,
                      bool only_if_none, registry_cert_change *change, char *err, size_t errlen)
{
    char why[160];
    int rc;

    if (!ids_valid_device_id(device_id, why, sizeof why)) {
        snprintf(err, errlen, "invalid device id: %s", why);
        return -1;
    }
    if (registry_check_cert(cert_pem, device_id, err, errlen) != 0)
        return -1;
    if (now == NULL) {
        snprintf(err, errlen, "registry_set_cert: no timestamp given");
        return -1;
    }
    /* One transaction: the read of the current certificate and the writes
     * form one step even when the collector writes meanwhile. */
    if (db_begin_write(db, "begin certificate change", err, errlen) != 0)
        return -1;
    rc = lock_device(db, device_id, err, errlen);
    if (rc == 0)
        rc = set_cert_tx(db, device_id, cert_pem, now, only_if_none, change, err, errlen);
    return db_end_write(db, rc, "commit certificate change", err, errlen);
}

int registry_cert_history_count(sqldb *db, const char *device_id, char *err, size_t errlen)
{
    static const char sql[] = "SELECT COUNT(*) FROM device_cert_history WHERE device_id = ?1";
    sqldb_stmt *st = NULL;
    int n = -1;

    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "count certificate history", err, errlen);
    if (sqldb_bind_text(st, 1, device_id) == 0 && sqldb_step(st) == 1)
        n = (int)sqldb_column_int64(st, 0);
    else
        db_error(db, "count certificate history", err, errlen);
    sqldb_finalize(st);
    return n;
}

/* ---- viewers ------------------------------------------------------------ */

int registry_check_viewer_name(const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    char shown[64];

    if (n == 0 || n > REGISTRY_VIEWER_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != n || name[0] == '-' ||
        name[n - 1] == '-') {
        printable(shown, sizeof shown, (const unsigned char *)(name ? name : ""), n);
        snprintf(err, errlen, "viewer name '%s%s' must be 1..%d of a-z, 0-9 and '-' (not at its "
                 "ends), e.g. north-desk; the certificate's CN is %s<name>", shown,
                 n >= sizeof shown ? "..." : "", REGISTRY_VIEWER_NAME_MAX, REGISTRY_VIEWER_PREFIX);
        return -1;
    }
    return 0;
}

int registry_add_viewer(sqldb *db, const char *name, const char *clinic, const char *now,
                        char *err, size_t errlen)
{
    /* A taken name inserts nothing rather than failing: this runs inside
     * the caller's transaction, which must stay usable (PostgreSQL). */
    static const char sql[] = "INSERT INTO viewers(name, clinic, issued_at) VALUES (?1, ?2, ?3)"
                              " ON CONFLICT (name) DO NOTHING";
    sqldb_stmt *st = NULL;
    int rc = -1;

    if (registry_check_viewer_name(name, err, errlen) != 0 ||
        (clinic && registry_check_clinic("--clinic", clinic, err, errlen) != 0))
        return -1;
    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, name) != 0 ||
        sqldb_bind_text(st, 2, clinic) != 0 || sqldb_bind_text(st, 3, now) != 0 ||
        sqldb_step(st) != 0)
        db_error(db, "record viewer", err, errlen);
    else if (sqldb_changes(db) == 0)
        snprintf(err, errlen, "viewer '%s' is already recorded; pick another name (revoke the old "
                 "one with 'smpctl pki revoke --cert DIR/viewer-%s.crt')", name, name);
    else
        rc = 0;
    sqldb_finalize(st);
    return rc;
}

/* rowlist_fn */
static void viewer_row(sqldb_stmt *st, void *entry)
{
    registry_viewer *v = entry;

    memset(v, 0, sizeof *v);
    sqldb_column_copy(st, 0, v->name, sizeof v->name);
    v->all_clinics = sqldb_column_null(st, 1);
    sqldb_column_copy(st, 1, v->clinic, sizeof v->clinic);
    sqldb_column_copy(st, 2, v->issued_at, sizeof v->issued_at);
}

int registry_list_viewers(sqldb *db, registry_viewer **out, size_t *count, char *err,
                          size_t errlen)
{
    static const char sql[] = "SELECT name, clinic, issued_at FROM viewers ORDER BY name";
    sqldb_stmt *st = NULL;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, "prepare viewer list", err, errlen);
    rc = rowlist_collect(db, st, "viewer list", sizeof **out, viewer_row, &arr, count, err, errlen);
    *out = arr;
    return rc;
}
