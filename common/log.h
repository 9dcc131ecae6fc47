/* log: one line per event to stderr, level first, then key=value pairs.
 *   log_info("connected broker=%s port=%d", host, port);
 * Never log key material or payload bodies. Thread-safe (one fprintf); the
 * level may be changed while other threads log (SIGHUP reload).
 *
 * Untrusted text (anything a device or the network chose: payloads, topics,
 * field names, reasons that embed them) goes in as a quoted value:
 *   log_warn("quarantined topic=%s reason=%s", LOG_Q(topic), LOG_Q(reason));
 * which writes topic="..." with " and \ escaped, so no value can end its
 * quotes early and forge a key. As a safety net every line is escaped once
 * more when written: control characters (C0, DEL, C1) and bytes that are
 * not UTF-8 become \n, \r, \t, \xNN, \u00NN, so one event is always one
 * line of valid UTF-8, whatever a call site forgot. (Backslashes are left
 * alone by that pass: LOG_Q's \" and \\ must reach the log as written.) */
#ifndef SMP_LOG_H
#define SMP_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level min);
log_level log_get_level(void);
void log_set_program(const char *name);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Longest quoted value LOG_Q writes, quotes included; longer values are
 * cut at a character boundary and end in ...". */
#define LOG_QUOTE_MAX 512

/* n for log_quote: s is NUL-terminated. */
#define LOG_NUL_TERMINATED ((size_t)-1)

/* Writes s (n bytes, need not be NUL-terminated; or LOG_NUL_TERMINATED)
 * into buf as "value": quote, backslash and control characters escaped,
 * bad bytes as \xNN. NULL is written as - (no quotes). Returns buf. */
const char *log_quote(char *buf, size_t cap, const char *s, size_t n);
/* log_quote into a compound-literal buffer (it lives until the end of the
 * enclosing block), for use as a printf argument. */
#define LOG_QN(s, n) log_quote((char[LOG_QUOTE_MAX]){0}, LOG_QUOTE_MAX, (s), (n))
#define LOG_Q(s) LOG_QN((s), LOG_NUL_TERMINATED)

/* The final-line pass of log_msg, exposed for tests: writes line into out
 * (cap bytes) with control characters and bad bytes escaped. */
void log_escape_line(char *out, size_t cap, const char *line);

/* "error", "warn", "info" or "debug" (the log_level setting's values).
 * Returns false for any other name. */
bool log_level_parse(const char *name, log_level *out);
const char *log_level_name(log_level level);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
