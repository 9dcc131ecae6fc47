#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "utf8.h"

static const char *const names[] = {"debug", "info", "warn", "error"};

/* Atomic: a reload sets it on one thread while others log. */
static atomic_int min_level = LOG_INFO;
static const char *program = "smp";

void log_set_level(log_level min) { atomic_store_explicit(&min_level, (int)min, memory_order_relaxed); }
log_level log_get_level(void) { return (log_level)atomic_load_explicit(&min_level, memory_order_relaxed); }
void log_set_program(const char *name) { program = name; }

bool log_level_parse(const char *name, log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcmp(names[i], name) == 0) {
            *out = (log_level)i;
            return true;
        }
    }
    return false;
}

const char *log_level_name(log_level level)
{
    return level >= LOG_DEBUG && level <= LOG_ERROR ? names[level] : "?";
}

const char *log_quote(char *buf, size_t cap, const char *s, size_t n)
{
    size_t len;

    if (cap < 8) {
        if (cap)
            buf[0] = '\0';
        return buf;
    }
    if (!s) {
        snprintf(buf, cap, "-");
        return buf;
    }
    if (n == LOG_NUL_TERMINATED)
        n = strlen(s);
    buf[0] = '"';
    /* Room for the closing quote (and "..." when cut) and the NUL. */
    if (utf8_escape(buf + 1, cap - 2, s, n, UTF8_ESC_BACKSLASH | UTF8_ESC_QUOTE) < n) {
        utf8_escape(buf + 1, cap - 5, s, n, UTF8_ESC_BACKSLASH | UTF8_ESC_QUOTE);
        strcat(buf, "...");
    }
    len = strlen(buf);
    buf[len] = '"';
    buf[len + 1] = '\0';
    return buf;
}

void log_escape_line(char *out, size_t cap, const char *line)
{
    utf8_escape(out, cap, line, strlen(line), 0);
}

void log_msg(log_level level, const char *fmt, ...)
{
    char raw[1024], line[4 * sizeof raw]; /* an escape is at most 4x its byte */
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* The safety net: whatever a call site passed, one event, one line. */
    log_escape_line(line, sizeof line, raw);
    /* One call per line so lines from different threads never interleave. */
    fprintf(stderr, "%s level=%s ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s\n", program,
            names[level], tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec, (int)(tv.tv_usec / 1000), line);
}
