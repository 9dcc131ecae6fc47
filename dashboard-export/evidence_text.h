/* evidence_text: what proves an alert, for the people who read a report
 * (a clinic manager, an inspector): an alert's evidence and the records it
 * cites as labelled fields, "Cartridge C1, lot LOT-1, expiry 2026-11-01,
 * inserted 2026-11-02 08:14 PST on chair-01, session S1", instead of JSON.
 * The HTML and the PDF show these same strings (each escapes or maps them
 * for its own format); the JSON and CSV keep the machine form, and the
 * report's appendix (evtext_appendix) the cited records' canonical bytes.
 *
 * Each evidence shape the collector writes (collector/rules_*.c,
 * integrity.c, ingest.c, verifier.c) has its own wording. Evidence of any
 * other shape (an older collector, a rule this version does not know) is
 * shown member by member with its keys as labels, never dropped. Times
 * are shown in the report's zone with the zone named; the stored evidence
 * keeps UTC.
 *
 * Every function writes plain UTF-8 text (not escaped) into the caller's
 * out (cap bytes, NUL-terminated; text that does not fit ends in "...")
 * and returns out. */
#ifndef SMP_EVIDENCE_TEXT_H
#define SMP_EVIDENCE_TEXT_H

#include <stddef.h>

#include "report_data.h"
#include "tzlocal.h"

#define EVTEXT_MAX 6144   /* enough for the longest evidence (R7's recall lists) */

/* The evidence of v as lines of labelled fields, '\n' between lines. */
const char *evtext_alert(const tzlocal_zone *z, const report_violation *v, char *out,
                         size_t cap);

/* A record's own fields, one line: "Cartridge EC-1 inserted, SKU 0603RL,
 * 3 needles, ...". type is records.type, body its canonical JSON. */
const char *evtext_record(const tzlocal_zone *z, const char *type, const char *body, char *out,
                          size_t cap);

/* A cited record named and read: "dev-e1 #6, 2026-11-02 02:01 PST: " and
 * evtext_record's fields; "dev-s1 #1: not in this clinic's records" when
 * the report holds no body for it. */
const char *evtext_cited(const tzlocal_zone *z, const report_cited *c, char *out, size_t cap);

/* The report's appendix: every record that a listed alert (violation,
 * notice or withdrawn) cites and whose body the report holds, once each,
 * by device and seq. On success *out is a new array of *n pointers into
 * d (the caller frees the array, not the records). Returns 0, or -1 when
 * out of memory. */
int evtext_appendix(const report_data *d, const report_cited ***out, size_t *n);

#endif
