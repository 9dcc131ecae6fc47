/* report_sterilizers: a clinic's autoclaves as equipment in its report
 * (report_data.sterilizers): the ones registered with smpctl sterilizer
 * add (model, serial, whether it logs through an agent of its own or
 * through the clinic's machines), and any other sterilizer id the
 * period's cycles or tests name, each with the period's cycles passed and
 * failed and its spore tests. */
#ifndef SMP_REPORT_STERILIZERS_H
#define SMP_REPORT_STERILIZERS_H

#include <stddef.h>

#include "report_data.h"
#include "sqldb.h"

/* Reads the sterilizers registered to d's clinic, retired ones too, into
 * d->sterilizers (by sterilizer_id). Inside the caller's read
 * transaction; borrows db. Returns 0, or -1 with err filled. */
int report_sterilizers_read(sqldb *db, report_data *d, char *err, size_t errlen);

/* After d's cycles (with their verdicts) and tests are read: counts them
 * per sterilizer, adding the sterilizers they name that are not
 * registered (d->sterilizers stays by sterilizer_id). Returns 0, or -1
 * when out of memory. */
int report_sterilizers_tally(report_data *d);

/* The registered sterilizer of d's clinic called id, or NULL. */
const report_sterilizer *report_sterilizer_of(const report_data *d, const char *id);

/* How a sterilizer's cycles reach the store, for people: "its own agent
 * (device ac-north)", "the clinic's machines", or "unknown: not
 * registered, named by the records". */
void report_sterilizer_logger(const report_sterilizer *s, char *out, size_t cap);

/* What an alert is filed under, for people: "m01", "Sterilizer
 * ac-north", or "ac-x (not a device or sterilizer of this clinic)". */
void report_alert_subject(const report_violation *v, char *out, size_t cap);

/* "device", "sterilizer" or "unknown", for JSON and CSV. */
const char *report_filed_name(report_filed f);

#endif
