#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static log_level min_level = LOG_INFO;
static const char *program = "smp";

void log_set_level(log_level min) { min_level = min; }
void log_set_program(const char *name) { program = name; }

void log_msg(log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (level < min_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One call per line so lines from different threads never interleave. */
    fprintf(stderr, "%s level=%s ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s\n", program,
            names[level], tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec, (int)(tv.tv_usec / 1000), line);
}
