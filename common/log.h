/* log: one line per event to stderr, level first, then key=value pairs.
 *   log_info("connected broker=%s port=%d", host, port);
 * Never log key material or payload bodies. Thread-safe (one fprintf); the
 * level may be changed while other threads log (SIGHUP reload). */
#ifndef SMP_LOG_H
#define SMP_LOG_H

#include <stdbool.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level min);
log_level log_get_level(void);
void log_set_program(const char *name);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "error", "warn", "info" or "debug" (the log_level setting's values).
 * Returns false for any other name. */
bool log_level_parse(const char *name, log_level *out);
const char *log_level_name(log_level level);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
