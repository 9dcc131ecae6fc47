/* clinics: the clinics of the fleet (table clinics of common/db.c) on
 * either store behind sqldb: what reports and exports call a clinic (name,
 * address, licence number) and the IANA timezone whose local calendar the
 * rules and reports use for it (docs/rules.md, docs/reports.md). A clinic
 * that devices name (devices.clinic) but that is not registered here is
 * taken as UTC.
 *
 * The caller owns the connection; nothing here opens or closes it.
 * Functions returning int give 0 on success and -1 on failure with err
 * naming the option or clinic and what to do (and, for a database failure,
 * the masked database name). */
#ifndef SMP_CLINICS_H
#define SMP_CLINICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "sqldb.h"
#include "tzlocal.h"

#define CLINICS_ADDRESS_MAX 256   /* bytes; one line ("12 North St, Springfield IL 62701") */

/* What clinics_add takes, and clinics_set changes. Strings are borrowed;
 * for clinics_set a NULL field stays as it is. */
typedef struct clinics_fields {
    const char *clinic_id;   /* a clinic as devices name it (registry_check_clinic) */
    const char *name;        /* 1..128 bytes of UTF-8 text */
    const char *timezone;    /* a zone of the system tz database (tzlocal_load) */
    const char *address;     /* 0..256 bytes of UTF-8 text, one line; "" none */
    const char *licence;     /* 0..128 bytes of UTF-8 text; "" none */
} clinics_fields;

/* A registered clinic as read back; "" marks an absent address / licence. */
typedef struct clinics_row {
    char clinic_id[REGISTRY_TEXT_MAX + 1];
    char name[REGISTRY_TEXT_MAX + 1];
    char timezone[TZLOCAL_NAME_MAX + 1];
    char address[CLINICS_ADDRESS_MAX + 1];
    char licence[REGISTRY_TEXT_MAX + 1];
    char added_at[REGISTRY_TS_LEN + 1];
    char updated_at[REGISTRY_TS_LEN + 1];
    int64_t devices;          /* active devices registered to it */
} clinics_row;

/* Checks the fields given (NULL ones are skipped); messages name the
 * option (--name, --timezone, --address, --licence) or the clinic id. A
 * timezone is refused unless the system tz database has it, with an
 * example of one it has. */
int clinics_check(const clinics_fields *f, char *err, size_t errlen);

/* Registers a clinic (name and timezone required) with added_at =
 * updated_at = now, in a write transaction of its own. A clinic id already
 * registered is refused, naming what it holds and the command that changes
 * it. */
int clinics_add(sqldb *db, const clinics_fields *f, const char *now, char *err, size_t errlen);

/* Changes the non-NULL fields of f (at least one) of a registered clinic,
 * updated_at = now, in a write transaction of its own holding the clinic's
 * lock "clinic:<id>" (sqldb_lock), the one the collectors' rules take for a
 * clinic's shared state, so a change of timezone falls between two of
 * those decisions; a rule reads the zone once per decision either way.
 * *before (may be NULL) receives the
 * clinic as it was, *after (may be NULL) as it is now. An unregistered
 * clinic is refused, naming the command that adds it. */
int clinics_set(sqldb *db, const clinics_fields *f, const char *now, clinics_row *before,
                clinics_row *after, char *err, size_t errlen);

/* Looks a clinic up: 0 and *out when registered, 1 when not (err says so,
 * naming the command that adds it), -1 on a database error. */
int clinics_get(sqldb *db, const char *clinic_id, clinics_row *out, char *err, size_t errlen);

/* Every registered clinic sorted by id; *out malloc'ed (NULL when none),
 * freed by the caller. */
int clinics_list(sqldb *db, clinics_row **out, size_t *count, char *err, size_t errlen);

/* A clinic that devices name and that is not registered. */
typedef struct clinics_unregistered {
    char clinic_id[REGISTRY_TEXT_MAX + 1];
    int64_t devices;          /* active devices that name it */
} clinics_unregistered;

/* Clinics named by active devices but not registered, sorted by id; *out
 * malloc'ed (NULL when none), freed by the caller. */
int clinics_list_unregistered(sqldb *db, clinics_unregistered **out, size_t *count, char *err,
                              size_t errlen);

/* The one line that says an unregistered clinic's calendar is UTC and how
 * to register it (db_name: the masked database, as sqldb_name gives it). */
void clinics_unregistered_hint(const char *clinic_id, const char *db_name, char *out, size_t cap);

#endif
