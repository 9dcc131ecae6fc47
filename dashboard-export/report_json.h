/* report_json: a report_data as one JSON object (cJSON), the same numbers
 * and logs as the HTML, for programs. docs/reports.md lists the keys.
 * Decimal values (temperatures, pressures) are JSON numbers with one
 * decimal place, exactly as the records hold them; times are the records'
 * own UTC strings. */
#ifndef SMP_REPORT_JSON_H
#define SMP_REPORT_JSON_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "report_data.h"

/* Builds the report object. The caller owns the result (cJSON_Delete);
 * NULL when out of memory. */
cJSON *report_json_build(const report_data *d);

/* Writes d to out (borrowed, not closed) as one line of JSON and a
 * newline. Returns 0, or -1 when out reports a write error or memory ran
 * out. */
int report_json_write(FILE *out, const report_data *d);

#endif
