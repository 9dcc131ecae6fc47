/* evidence: a bounded JSON object writer for an alert's evidence.
 *
 * Rules describe what proves an alert (records by device and seq, values,
 * limits) as one JSON object that must fit alert.evidence. Values are
 * escaped here, so ids from devices can never break the JSON. Lists are
 * cut to fit: take ev_mark before an item, and ev_rewind to it when
 * ev_fits says the item left too little room. Whatever happens, ev_end
 * leaves a valid JSON object in the buffer. */
#ifndef SMP_EVIDENCE_H
#define SMP_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVIDENCE_DEPTH_MAX 6

typedef struct ev_pos {
    size_t len;
    int depth;
    bool first;
} ev_pos;

typedef struct evidence {
    char *buf;
    size_t cap, len;
    bool overflow;
    int depth;
    bool first[EVIDENCE_DEPTH_MAX];   /* no comma before the next member */
    char closer[EVIDENCE_DEPTH_MAX];  /* '}' or ']' for each open level */
    size_t top_len;                   /* end of the last whole top-level member */
} evidence;

/* Starts an object in buf (borrowed, cap >= 64). */
void ev_begin(evidence *e, char *buf, size_t cap);
/* key is NULL for a list item. */
void ev_str(evidence *e, const char *key, const char *value);
void ev_int(evidence *e, const char *key, int64_t value);
void ev_bool(evidence *e, const char *key, bool value);
void ev_null(evidence *e, const char *key);
/* Tenths written as a decimal number: 1335 → 133.5. */
void ev_dec1(evidence *e, const char *key, int64_t tenths);
void ev_open_object(evidence *e, const char *key);
void ev_open_array(evidence *e, const char *key);
void ev_close(evidence *e);

ev_pos ev_mark(const evidence *e);
/* Nothing was cut and at least keep bytes are still free. */
bool ev_fits(const evidence *e, size_t keep);
void ev_rewind(evidence *e, ev_pos pos);

/* Closes what is open. Returns 0, or -1 when something did not fit: then
 * the buffer holds the whole top-level members written before it and
 * "truncated":true. */
int ev_end(evidence *e);

#endif
