/* alert_line: one alert as the chair sees it, and its line on the
 * alerts_socket (docs/agent.md, "The alerts socket"):
 *
 *   {"v":1,"event":"raised","source":"collector","id":17,"rule":"R3",
 *    "severity":"maintenance","cause":"wear:c-9","message":"...","at":"<ts>"}
 *
 * "source" is "collector" (the collector's alert, "id" its row id, "at" the
 * collector's time) or "agent" (a local warning made while the collector
 * is unreachable: no "id", "at" the agent's clock). */
#ifndef SMP_ALERT_LINE_H
#define SMP_ALERT_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* Each field at its longest, every byte escaped as \uXXXX, fits. */
#define ALERT_LINE_MAX 4096

typedef enum { ALERT_SRC_COLLECTOR, ALERT_SRC_AGENT } chair_alert_source;

typedef struct chair_alert {
    chair_alert_source source;
    int64_t id;                  /* the collector's alert id; 0 for a local warning */
    char rule[8];
    char severity[16];
    char cause[160];
    char message[256];
    char at[RECORD_TS_LEN + 1];
} chair_alert;

/* Writes the line for event ("open" for a replayed or newly learned open
 * alert, "raised", "escalated", "cleared", "withdrawn"), '\n' included.
 * Returns its length, or -1 when cap is too small (give ALERT_LINE_MAX). */
int alert_line_encode(const chair_alert *a, const char *event, char *buf, size_t cap);

const char *alert_source_name(chair_alert_source s);

#endif
