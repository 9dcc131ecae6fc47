/* tzlocal: local time in a named IANA timezone (a clinic's), read from the
 * system tz database (/usr/share/zoneinfo) by this module, in any thread.
 *
 * Why not localtime_r: glibc converts to local time only in the process's
 * one zone, the TZ environment variable that tzset reads. Using a clinic's
 * zone would take setenv("TZ") + tzset before each conversion, and the
 * collector runs several threads (listener, committer, publisher, senders,
 * the rules timer): a setenv while another thread reads the environment is
 * undefined behaviour, and localtime_r in one thread would use whichever
 * zone another thread set last. localtime_r after a single tzset is right
 * only for a process that serves one zone, and a collector serves a fleet
 * of clinics. glibc has no per-call zone API (localtime_rz/mktime_z are
 * NetBSD's and gnulib's, not glibc's), and forking a helper per
 * conversion is absurd. So this module reads the zone's TZif file
 * (RFC 8536, versions 1 to 4) itself: its transitions, and the POSIX TZ
 * rule of its footer for times after the last transition, into an
 * immutable table that any thread reads without a lock.
 *
 * Zones are cached per process by name (tzlocal_load), behind one mutex
 * held only to find or add an entry; a cached zone is never freed while
 * the process runs, so a pointer handed out stays valid in every thread.
 * A zone is read once: a tzdata upgrade reaches a running collector when
 * it restarts. A name that failed to load is remembered as failed too.
 *
 * Times are POSIX seconds (UTC, no leap seconds), as records carry them;
 * a "right/" zone (whose file counts leap seconds) is refused. Functions
 * that return int give 0 on success and -1 with err naming the zone and
 * what to do. */
#ifndef SMP_TZLOCAL_H
#define SMP_TZLOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZLOCAL_DIR       "/usr/share/zoneinfo"
#define TZLOCAL_NAME_MAX  64   /* the longest IANA name is 32 bytes */
#define TZLOCAL_ABBR_MAX  15   /* "PST", "+1030" */
#define TZLOCAL_DATE_LEN  10   /* YYYY-MM-DD */
#define TZLOCAL_TEXT_LEN  32   /* "2026-03-02 16:23 PST" */
#define TZLOCAL_ISO_LEN   25   /* "2026-03-02T16:23:00-08:00" */
#define TZLOCAL_EXAMPLE   "America/Los_Angeles"

typedef struct tzlocal_zone tzlocal_zone;

/* What holds at one instant. */
typedef struct tzlocal_info {
    int32_t utoff;                     /* seconds east of UTC (PST: -28800) */
    bool isdst;
    char abbr[TZLOCAL_ABBR_MAX + 1];   /* the zone's abbreviation then */
} tzlocal_info;

/* The built-in UTC zone (no file needed): what an unregistered clinic uses. */
const tzlocal_zone *tzlocal_utc(void);

/* The zone named name (an IANA name such as America/Los_Angeles), from
 * the process's cache or read from TZLOCAL_DIR and cached. Refused: a
 * name that is not a plain zone name (empty, absolute, "..", posix/,
 * right/, localtime, posixrules, Factory), a file that is not there, not
 * a regular file, not TZif, or counts leap seconds. *out is valid for the
 * life of the process. */
int tzlocal_load(const char *name, const tzlocal_zone **out, char *err, size_t errlen);

/* tzlocal_load, or UTC when the zone cannot be loaded (logged once per
 * name as a warning naming the zone and why): for the rules, which must
 * go on judging when a registered zone's file has gone. */
const tzlocal_zone *tzlocal_or_utc(const char *name);

/* Parses a TZif image (len bytes) into a new zone called name, which the
 * caller frees with tzlocal_free (tests; tzlocal_load uses it). */
int tzlocal_parse(const char *name, const unsigned char *buf, size_t len, tzlocal_zone **out,
                  char *err, size_t errlen);
void tzlocal_free(tzlocal_zone *z);

/* The zone's name ("UTC" for tzlocal_utc). */
const char *tzlocal_name(const tzlocal_zone *z);

/* Offset, DST flag and abbreviation in force at POSIX time t. */
void tzlocal_at(const tzlocal_zone *z, int64_t t, tzlocal_info *out);

/* The local calendar date at t, "YYYY-MM-DD". */
void tzlocal_date(const tzlocal_zone *z, int64_t t, char out[TZLOCAL_DATE_LEN + 1]);
/* The local date and time at t with the abbreviation, for people:
 * "2026-03-02 16:23 PST". */
void tzlocal_text(const tzlocal_zone *z, int64_t t, char out[TZLOCAL_TEXT_LEN + 1]);
/* The local time at t as ISO 8601 with its offset, for machines:
 * "2026-03-02T16:23:00-08:00" (an offset with seconds, before 1900 in
 * some zones, is shown to the minute). */
void tzlocal_iso(const tzlocal_zone *z, int64_t t, char out[TZLOCAL_ISO_LEN + 1]);

/* The local date at t as days since 1970-01-01 (tzlocal_civil_from_days
 * turns it into a date): for counting calendar days. */
int64_t tzlocal_day_number(const tzlocal_zone *z, int64_t t);

/* The first instant (POSIX seconds) whose local date is y-m-d, or later:
 * local midnight, or the end of a DST gap that skips midnight. In the rare
 * zone whose clocks went back across midnight, the first midnight. */
int64_t tzlocal_day_start(const tzlocal_zone *z, int y, int m, int d);

/* Proleptic Gregorian calendar: days since 1970-01-01 of y-m-d, and back;
 * weekday 0 = Sunday. */
int64_t tzlocal_days_from_civil(int y, int m, int d);
void tzlocal_civil_from_days(int64_t days, int *y, int *m, int *d);
/* "YYYY-MM-DD" (a real date) into y, m, d: 0, or -1. */
int tzlocal_parse_date(const char *date, int *y, int *m, int *d);

/* Drops every cached zone (tests only: no other thread may hold one). */
void tzlocal_cache_clear(void);

#endif
