#include "evidence.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Always kept free: closing brackets and ,"truncated":true} fit in it. */
#define RESERVE (EVIDENCE_DEPTH_MAX + 24)

static void put(evidence *e, const char *s, size_t n)
{
    if (e->overflow || e->len + n + RESERVE > e->cap) {
        e->overflow = true;
        return;
    }
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
}

/* A JSON string: quotes, backslashes and control characters escaped; all
 * other bytes (valid UTF-8, by the record schema) as they are. */
static void put_string(evidence *e, const char *s)
{
    char esc[8];

    put(e, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(e, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(e, esc, 6);
        } else {
            put(e, s, 1);
        }
    }
    put(e, "\"", 1);
}

/* The comma and key before a member. */
static void member(evidence *e, const char *key)
{
    if (!e->first[e->depth])
        put(e, ",", 1);
    e->first[e->depth] = false;
    if (key) {
        put_string(e, key);
        put(e, ":", 1);
    }
}

/* After a value: at depth 0 a whole member is done. */
static void done(evidence *e)
{
    if (e->depth == 0 && !e->overflow)
        e->top_len = e->len;
}

void ev_begin(evidence *e, char *buf, size_t cap)
{
    memset(e, 0, sizeof *e);
    e->buf = buf;
    e->cap = cap;
    e->first[0] = true;
    put(e, "{", 1);
    e->top_len = e->len;
}

static void scalar(evidence *e, const char *key, const char *text)
{
    member(e, key);
    put(e, text, strlen(text));
    done(e);
}

void ev_str(evidence *e, const char *key, const char *value)
{
    member(e, key);
    put_string(e, value);
    done(e);
}

void ev_int(evidence *e, const char *key, int64_t value)
{
    char n[24];
    snprintf(n, sizeof n, "%" PRId64, value);
    scalar(e, key, n);
}

void ev_bool(evidence *e, const char *key, bool value)
{
    scalar(e, key, value ? "true" : "false");
}

void ev_null(evidence *e, const char *key)
{
    scalar(e, key, "null");
}

void ev_dec1(evidence *e, const char *key, int64_t tenths)
{
    char n[32];
    int64_t a = tenths < 0 ? -tenths : tenths;
    snprintf(n, sizeof n, "%s%" PRId64 ".%" PRId64, tenths < 0 ? "-" : "", a / 10, a % 10);
    scalar(e, key, n);
}

static void open_level(evidence *e, const char *key, char opener, char closer)
{
    member(e, key);
    if (e->depth + 1 >= EVIDENCE_DEPTH_MAX) {
        e->overflow = true;
        return;
    }
    put(e, &opener, 1);
    e->depth++;
    e->first[e->depth] = true;
    e->closer[e->depth] = closer;
}

void ev_open_object(evidence *e, const char *key) { open_level(e, key, '{', '}'); }
void ev_open_array(evidence *e, const char *key) { open_level(e, key, '[', ']'); }

void ev_close(evidence *e)
{
    if (e->depth == 0)
        return;
    /* RESERVE guarantees the room, even after an overflow was flagged. */
    if (!e->overflow) {
        e->buf[e->len++] = e->closer[e->depth];
        e->buf[e->len] = '\0';
    }
    e->depth--;
    done(e);
}

ev_pos ev_mark(const evidence *e)
{
    return (ev_pos){e->len, e->depth, e->first[e->depth]};
}

bool ev_fits(const evidence *e, size_t keep)
{
    return !e->overflow && e->len + RESERVE + keep <= e->cap;
}

void ev_rewind(evidence *e, ev_pos pos)
{
    e->len = pos.len;
    e->depth = pos.depth;
    e->first[pos.depth] = pos.first;
    e->overflow = false;
    e->buf[e->len] = '\0';
}

int ev_end(evidence *e)
{
    /* Without a comma when nothing came before it. */
    const char *marker = e->top_len > 1 ? ",\"truncated\":true}" : "\"truncated\":true}";

    while (!e->overflow && e->depth > 0)
        ev_close(e);
    if (!e->overflow) {
        e->buf[e->len++] = '}';
        e->buf[e->len] = '\0';
        return 0;
    }
    /* top_len + RESERVE <= cap, and the marker is shorter than RESERVE. */
    e->len = e->top_len;
    memcpy(e->buf + e->len, marker, strlen(marker) + 1);
    e->len += strlen(marker);
    return -1;
}
