/* registry: the device registry (devices table of common/db.h), on either
 * store behind sqldb. The clinic a device belongs to is decided here, never
 * trusted from a payload (docs/protocol.md), so smpctl writes it and the
 * collector can reuse the lookups. The caller owns the connection; nothing
 * here opens or closes it. Functions returning int give 0 on success and -1
 * on failure with err filled with a message naming the field or device
 * (and, for a database failure, the masked database name). */
#ifndef SMP_REGISTRY_H
#define SMP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "ids.h"
#include "sqldb.h"

#define REGISTRY_TEXT_MAX 128  /* bytes of clinic, model, serial (the record string limit of docs/protocol.md) */
#define REGISTRY_TS_LEN   24   /* YYYY-MM-DDTHH:MM:SS.mmmZ */
#define REGISTRY_CERT_MAX (64 * 1024) /* a device cert PEM is ~1 KiB; more is not a cert */

/* A device to add. All strings are borrowed for the call. */
typedef struct registry_new {
    const char *device_id;  /* must pass ids_valid_device_id */
    const char *clinic;     /* 1..128 bytes UTF-8, no control characters */
    const char *model;      /* optional (NULL): 1..128 bytes UTF-8, no control characters */
    const char *serial;     /* optional (NULL): same rules as model */
    const char *cert_pem;   /* optional (NULL): one PEM certificate whose CN is device_id */
    const char *kind;       /* NULL or REGISTRY_KIND_MACHINE, or REGISTRY_KIND_STERILIZER */
} registry_new;

/* What a device is (devices.kind): a tattoo machine, or the logger agent of
 * an autoclave (registered by smpctl sterilizer add --cert, sterilizers.h). */
#define REGISTRY_KIND_MACHINE    "machine"
#define REGISTRY_KIND_STERILIZER "sterilizer"

/* A registered device as read back; "" marks an absent optional value. */
typedef struct registry_device {
    char device_id[IDS_DEVICE_ID_MAX + 1];
    char clinic[REGISTRY_TEXT_MAX + 1];
    char model[REGISTRY_TEXT_MAX + 1];
    char serial[REGISTRY_TEXT_MAX + 1];
    char added_at[REGISTRY_TS_LEN + 1];
    char retired_at[REGISTRY_TS_LEN + 1];  /* "" while the device is active */
    bool has_cert;
    char kind[16];                         /* REGISTRY_KIND_* */
} registry_device;

/* Checks that text is usable as a clinic / model / serial: 1..128 bytes of
 * valid UTF-8 and no control characters (they would corrupt tables, logs
 * and CSV rows).
 * what names the field in the message ("--clinic"). */
int registry_check_text(const char *what, const char *text, char *err, size_t errlen);

/* Checks that text is usable as a clinic: registry_check_text, and a
 * single MQTT topic level, because alerts go to smp/v1/alerts/<clinic>
 * and the broker ACL (smpctl broker acl) names that topic on a line of its
 * own: no '/', '+', '#' and no whitespace (ASCII or Unicode). */
int registry_check_clinic(const char *what, const char *clinic, char *err, size_t errlen);

/* Checks that pem (NUL-terminated) holds exactly one PEM X.509 certificate
 * whose subject CN equals device_id. */
int registry_check_cert(const char *pem, const char *device_id, char *err, size_t errlen);

/* Validates dev and inserts it with added_at = now (a REGISTRY_TS_LEN
 * timestamp the caller supplies, so tests control time), in a write
 * transaction of its own. Device ids are never reused: an id already
 * present, retired or not, is refused. */
int registry_add(sqldb *db, const registry_new *dev, const char *now, char *err, size_t errlen);

/* registry_add's checks and insert inside the caller's write transaction
 * (smpctl sterilizer add registers a sterilizer and its agent in one). An
 * id taken by a device, or by a sterilizer logged through machines (the
 * two share one namespace: alerts are filed under either), is refused and
 * nothing is written. */
int registry_insert(sqldb *db, const registry_new *dev, const char *now, char *err,
                    size_t errlen);

/* Looks device_id up. Returns 0 and fills *out when registered, 1 when not
 * registered (err says so), -1 on a database error. */
int registry_get(sqldb *db, const char *device_id, registry_device *out, char *err, size_t errlen);

/* Marks an active device retired at now, in a write transaction of its
 * own. Unknown or already retired devices are errors, so a typo never
 * passes silently. */
int registry_retire(sqldb *db, const char *device_id, const char *now, char *err, size_t errlen);

/* What registry_set_cert did. */
typedef enum registry_cert_change {
    REGISTRY_CERT_FIRST,      /* the device had none; now it has one */
    REGISTRY_CERT_REPLACED,   /* the previous one went to the history */
    REGISTRY_CERT_UNCHANGED,  /* cert_pem was already the registered one */
} registry_cert_change;

/* Registers cert_pem (checked like registry_add's: one PEM certificate, CN =
 * device_id) as the certificate of an active device, in one write
 * transaction of its own that holds the lock "device:<id>" (sqldb_lock),
 * the one the collectors take for each device they store.
 * A certificate it replaces is kept in device_cert_history(device_id,
 * cert_pem, registered_until = now), so that checkpoints signed with the
 * previous key can still be checked against it (docs/collector.md,
 * "Certificate renewal and checkpoints").
 * only_if_none refuses a device that already has a certificate (`device
 * set-cert`). Unknown or retired devices are errors. */
int registry_set_cert(sqldb *db, const char *device_id, const char *cert_pem, const char *now,
                      bool only_if_none, registry_cert_change *change, char *err, size_t errlen);

/* Number of previous certificates of device_id in the history, or -1 on a
 * database error. */
int registry_cert_history_count(sqldb *db, const char *device_id, char *err, size_t errlen);

/* The current UTC time as a REGISTRY_TS_LEN timestamp. */
void registry_now(char out[REGISTRY_TS_LEN + 1]);

/* Lists devices sorted by id, all of them or those of clinic (NULL: all).
 * On success *out is a malloc'ed array of *count entries (NULL when none)
 * that the caller frees with free(). */
int registry_list(sqldb *db, const char *clinic, registry_device **out, size_t *count,
                  char *err, size_t errlen);

/* ---- viewers: read-only MQTT identities (smpctl pki issue-viewer) ---- */

#define REGISTRY_VIEWER_PREFIX "smp-viewer-"
#define REGISTRY_VIEWER_NAME_MAX 40

typedef struct registry_viewer {
    char name[REGISTRY_VIEWER_NAME_MAX + 1];   /* CN is smp-viewer-<name> */
    char clinic[REGISTRY_TEXT_MAX + 1];        /* "" with all_clinics */
    bool all_clinics;
    char issued_at[REGISTRY_TS_LEN + 1];
} registry_viewer;

/* A viewer name: 1..40 of a-z, 0-9 and '-', not '-' at either end. */
int registry_check_viewer_name(const char *name, char *err, size_t errlen);

/* Records viewer name with its scope: clinic (checked with
 * registry_check_clinic) or every clinic (clinic NULL). A name already
 * recorded is refused (nothing is written, and the caller's transaction
 * stays usable). Opens no transaction: smpctl pki issue-viewer commits the
 * row together with the files. */
int registry_add_viewer(sqldb *db, const char *name, const char *clinic, const char *now,
                        char *err, size_t errlen);

/* Every viewer sorted by name; *out malloc'ed (NULL when none), freed by
 * the caller. */
int registry_list_viewers(sqldb *db, registry_viewer **out, size_t *count, char *err,
                          size_t errlen);

#endif
