/* sterilizers: the autoclaves of the fleet as equipment of their clinic
 * (table sterilizers of common/db.c), on either store behind sqldb.
 *
 * A sterilizer reports either through an agent of its own (a device of
 * kind sterilizer with the same id: its own certificate, chain and
 * checkpoints, fed by the autoclave log importer), or through any machine
 * of its clinic. Either way the collector's rules take each of its cycles
 * once and file the alerts about it (R4, R6, R7, R9 cycle conflicts) under
 * its id (docs/rules.md). Registered ids are device ids ([a-z0-9-]{3,64})
 * and share their namespace: an alert's device is one or the other.
 *
 * The caller owns the connection. Functions returning int give 0 on
 * success and -1 on failure with err naming the option or sterilizer and
 * what to do (and, for a database failure, the masked database name). */
#ifndef SMP_STERILIZERS_H
#define SMP_STERILIZERS_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "registry.h"
#include "sqldb.h"

/* What sterilizers_add takes. Strings are borrowed. */
typedef struct sterilizers_new {
    const char *sterilizer_id;  /* the records' sterilizer_id; a device id */
    const char *clinic;         /* registry_check_clinic */
    const char *model;          /* optional (NULL) */
    const char *serial;         /* optional (NULL) */
    const char *cert_pem;       /* optional (NULL): its own agent's certificate (CN = id) */
} sterilizers_new;

typedef struct sterilizers_row {
    char sterilizer_id[IDS_DEVICE_ID_MAX + 1];
    char clinic[REGISTRY_TEXT_MAX + 1];
    char model[REGISTRY_TEXT_MAX + 1];
    char serial[REGISTRY_TEXT_MAX + 1];
    char device_id[IDS_DEVICE_ID_MAX + 1];  /* its own agent; "" when logged by machines */
    char added_at[REGISTRY_TS_LEN + 1];
    char retired_at[REGISTRY_TS_LEN + 1];
} sterilizers_row;

/* Registers a sterilizer with added_at = now, in one write transaction
 * holding the clinic's lock "clinic:<clinic>" (the one the collectors'
 * rules take for a clinic's sterilizers). With cert_pem its agent is
 * registered too, as device <id> of kind sterilizer. The alerts its clinic
 * already filed about it under a machine (the first that logged it) move
 * to it, *moved counts them, so that a later spore test still clears
 * them. An id already registered (as a sterilizer or a device) is
 * refused and nothing is written. */
int sterilizers_add(sqldb *db, const sterilizers_new *st, const char *now, int64_t *moved,
                    char *err, size_t errlen);

/* Every sterilizer, or those of clinic (NULL: all), sorted by id; *out
 * malloc'ed (NULL when none), freed by the caller. */
int sterilizers_list(sqldb *db, const char *clinic, sterilizers_row **out, size_t *count,
                     char *err, size_t errlen);

#endif
