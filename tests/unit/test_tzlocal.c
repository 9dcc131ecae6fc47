/* test_tzlocal: the TZif reader and local-time lookups (common/tzlocal.c).
 *
 * Known transitions are checked against constants (zdump -v of tzdata
 * 2025b); whole ranges of instants are checked against glibc's own
 * localtime_r in a forked child that sets TZ (the child's environment is
 * its own, so this process's TZ and threads are never touched): every
 * hour of 1970..2037 (the transitions a fat file lists) and every three
 * hours of 2037..2100 (its footer's POSIX rule). The rule reader is also
 * tested on its own: synthetic TZif files whose only content is a footer,
 * against glibc reading the same POSIX TZ string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tzlocal.h"

static int64_t utc(const char *iso)   /* "2026-03-08T10:00:00" */
{
    struct tm tm = {0};
    if (sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        fail_msg("bad test time %s", iso);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static const tzlocal_zone *zone(const char *name)
{
    const tzlocal_zone *z = NULL;
    char err[512];
    if (tzlocal_load(name, &z, err, sizeof err) != 0)
        fail_msg("%s", err);
    return z;
}

/* offset, DST flag, abbreviation, text and ISO form at an instant. */
static void is_at(const tzlocal_zone *z, const char *when, int32_t utoff, bool isdst,
                  const char *abbr, const char *text, const char *iso)
{
    tzlocal_info info;
    char t[TZLOCAL_TEXT_LEN + 1], i[TZLOCAL_ISO_LEN + 1];

    tzlocal_at(z, utc(when), &info);
    tzlocal_text(z, utc(when), t);
    tzlocal_iso(z, utc(when), i);
    if (info.utoff != utoff || info.isdst != isdst || strcmp(info.abbr, abbr) != 0 ||
        strcmp(t, text) != 0 || strcmp(i, iso) != 0)
        fail_msg("%s at %sZ: %d %d %s '%s' '%s'; want %d %d %s '%s' '%s'", tzlocal_name(z), when,
                 info.utoff, info.isdst, info.abbr, t, i, utoff, isdst, abbr, text, iso);
}

static void day_starts(const tzlocal_zone *z, const char *date, const char *want)
{
    int y, m, d;
    assert_int_equal(tzlocal_parse_date(date, &y, &m, &d), 0);
    if (tzlocal_day_start(z, y, m, d) != utc(want))
        fail_msg("%s: %s starts at %lld, want %sZ (%lld)", tzlocal_name(z), date,
                 (long long)tzlocal_day_start(z, y, m, d), want, (long long)utc(want));
}

/* ---- known transitions ---------------------------------------------------- */

static void test_los_angeles_2026(void **state)
{
    const tzlocal_zone *z = zone("America/Los_Angeles");
    (void)state;

    is_at(z, "2026-03-08T09:59:59", -28800, false, "PST", "2026-03-08 01:59 PST",
          "2026-03-08T01:59:59-08:00");
    is_at(z, "2026-03-08T10:00:00", -25200, true, "PDT", "2026-03-08 03:00 PDT",
          "2026-03-08T03:00:00-07:00");
    is_at(z, "2026-11-01T08:59:59", -25200, true, "PDT", "2026-11-01 01:59 PDT",
          "2026-11-01T01:59:59-07:00");
    is_at(z, "2026-11-01T09:00:00", -28800, false, "PST", "2026-11-01 01:00 PST",
          "2026-11-01T01:00:00-08:00");
    /* The case: 16:23 local on 2026-03-02 is 00:23 UTC the next day. */
    is_at(z, "2026-03-03T00:23:00", -28800, false, "PST", "2026-03-02 16:23 PST",
          "2026-03-02T16:23:00-08:00");
    day_starts(z, "2026-03-08", "2026-03-08T08:00:00");   /* a 23-hour day */
    day_starts(z, "2026-03-09", "2026-03-09T07:00:00");
    day_starts(z, "2026-11-01", "2026-11-01T07:00:00");   /* a 25-hour day */
    day_starts(z, "2026-11-02", "2026-11-02T08:00:00");
    char date[TZLOCAL_DATE_LEN + 1];
    tzlocal_date(z, utc("2026-03-03T07:59:59"), date);
    assert_string_equal(date, "2026-03-02");
    tzlocal_date(z, utc("2026-03-03T08:00:00"), date);
    assert_string_equal(date, "2026-03-03");
}

static void test_london_2026(void **state)
{
    const tzlocal_zone *z = zone("Europe/London");
    (void)state;

    is_at(z, "2026-03-29T00:59:59", 0, false, "GMT", "2026-03-29 00:59 GMT",
          "2026-03-29T00:59:59+00:00");
    is_at(z, "2026-03-29T01:00:00", 3600, true, "BST", "2026-03-29 02:00 BST",
          "2026-03-29T02:00:00+01:00");
    is_at(z, "2026-10-25T00:59:59", 3600, true, "BST", "2026-10-25 01:59 BST",
          "2026-10-25T01:59:59+01:00");
    is_at(z, "2026-10-25T01:00:00", 0, false, "GMT", "2026-10-25 01:00 GMT",
          "2026-10-25T01:00:00+00:00");
    day_starts(z, "2026-07-01", "2026-06-30T23:00:00");
    day_starts(z, "2026-12-01", "2026-12-01T00:00:00");
}

static void test_kolkata_half_hour(void **state)
{
    const tzlocal_zone *z = zone("Asia/Kolkata");
    (void)state;

    is_at(z, "2026-01-15T12:00:00", 19800, false, "IST", "2026-01-15 17:30 IST",
          "2026-01-15T17:30:00+05:30");
    is_at(z, "2026-07-15T18:29:59", 19800, false, "IST", "2026-07-15 23:59 IST",
          "2026-07-15T23:59:59+05:30");
    day_starts(z, "2026-03-02", "2026-03-01T18:30:00");
}

/* +10:30 in winter, +11 (half an hour of DST) in summer, southern rule. */
static void test_lord_howe(void **state)
{
    const tzlocal_zone *z = zone("Australia/Lord_Howe");
    (void)state;

    is_at(z, "2026-04-04T14:59:59", 39600, true, "+11", "2026-04-05 01:59 +11",
          "2026-04-05T01:59:59+11:00");
    is_at(z, "2026-04-04T15:00:00", 37800, false, "+1030", "2026-04-05 01:30 +1030",
          "2026-04-05T01:30:00+10:30");
    is_at(z, "2026-10-03T15:29:59", 37800, false, "+1030", "2026-10-04 01:59 +1030",
          "2026-10-04T01:59:59+10:30");
    is_at(z, "2026-10-03T15:30:00", 39600, true, "+11", "2026-10-04 02:30 +11",
          "2026-10-04T02:30:00+11:00");
    day_starts(z, "2026-01-01", "2025-12-31T13:00:00");
    day_starts(z, "2026-06-01", "2026-05-31T13:30:00");
}

static void test_utc(void **state)
{
    const tzlocal_zone *file = zone("UTC"), *builtin = tzlocal_utc();
    (void)state;

    is_at(file, "2026-06-30T23:59:59", 0, false, "UTC", "2026-06-30 23:59 UTC",
          "2026-06-30T23:59:59+00:00");
    is_at(builtin, "2026-06-30T23:59:59", 0, false, "UTC", "2026-06-30 23:59 UTC",
          "2026-06-30T23:59:59+00:00");
    assert_string_equal(tzlocal_name(builtin), "UTC");
    day_starts(builtin, "2026-02-28", "2026-02-28T00:00:00");
    day_starts(builtin, "1969-12-31", "1969-12-31T00:00:00");
}

/* ---- against glibc ---------------------------------------------------------- */

/* In a child with TZ=tz: compares every step-th second of [from, to) of z
 * with localtime_r. Returns the number of mismatches (the first few are
 * printed). */
static int compare_child(const tzlocal_zone *z, const char *tz, int64_t from, int64_t to,
                         int64_t step)
{
    int bad = 0;

    setenv("TZ", tz, 1);
    tzset();
    for (int64_t t = from; t < to; t += step) {
        time_t tt = (time_t)t;
        struct tm tm;
        tzlocal_info info;
        char mine[TZLOCAL_ISO_LEN + 1], theirs[64];
        long off;

        localtime_r(&tt, &tm);
        off = tm.tm_gmtoff < 0 ? -tm.tm_gmtoff : tm.tm_gmtoff;
        snprintf(theirs, sizeof theirs, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 tm.tm_gmtoff < 0 ? '-' : '+', off / 3600, off / 60 % 60);
        tzlocal_iso(z, t, mine);
        tzlocal_at(z, t, &info);
        if (strcmp(mine, theirs) != 0 || info.isdst != (tm.tm_isdst > 0) ||
            strcmp(info.abbr, tm.tm_zone) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "%s at %lld: %s %s dst=%d; glibc %s %s dst=%d\n", tz,
                        (long long)t, mine, info.abbr, info.isdst, theirs, tm.tm_zone,
                        tm.tm_isdst);
        }
    }
    return bad;
}

static void same_as_glibc(const tzlocal_zone *z, const char *tz, int64_t from, int64_t to,
                          int64_t step)
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(compare_child(z, tz, from, to, step) == 0 ? 0 : 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s differs from glibc's localtime_r (see stderr)", tz);
}

static const char *const zones[] = {
    "America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC",
    "America/Sao_Paulo", "America/Nuuk", "Asia/Jerusalem", "Pacific/Apia", "Africa/Casablanca",
    "America/St_Johns", "Pacific/Chatham", "Antarctica/Troll",
};

static void test_zones_match_glibc(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        const tzlocal_zone *z = zone(zones[i]);
        same_as_glibc(z, zones[i], utc("1970-01-01T00:00:00"), utc("2037-12-31T00:00:00"), 3600);
        same_as_glibc(z, zones[i], utc("2037-06-01T00:00:30"), utc("2100-01-01T00:00:00"), 3 * 3600);
    }
}

/* Every local midnight of 2026 in those zones is a day start: the instant
 * before it has the previous local date. */
static void test_day_start_everywhere(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        const tzlocal_zone *z = zone(zones[i]);
        for (int64_t day = tzlocal_days_from_civil(2026, 1, 1);
             day < tzlocal_days_from_civil(2027, 1, 1); day++) {
            int y, m, d;
            char want[TZLOCAL_DATE_LEN + 1], at[TZLOCAL_DATE_LEN + 1], before[TZLOCAL_DATE_LEN + 1];
            tzlocal_civil_from_days(day, &y, &m, &d);
            int64_t start = tzlocal_day_start(z, y, m, d);
            snprintf(want, sizeof want, "%04d-%02d-%02d", y, m, d);
            tzlocal_date(z, start, at);
            tzlocal_date(z, start - 1, before);
            if (strcmp(at, want) != 0 || strcmp(before, want) >= 0)
                fail_msg("%s: day %s starts at %lld (%s; a second before: %s)", zones[i], want,
                         (long long)start, at, before);
        }
    }
}

/* ---- the footer rule alone ---------------------------------------------------- */

/* A version 2 TZif file with no transitions, one type (the rule's standard
 * time) and footer: everything comes from the rule, as in a "slim" file
 * after its last transition. */
static size_t tzif_with_footer(const char *footer, unsigned char *out, size_t cap)
{
    unsigned char block[6 + 4] = {0, 0, 0, 0, 0, 0, 'X', 'X', 'X', 0};
    size_t n = 0;

    for (int part = 0; part < 2; part++) {
        unsigned char head[44] = {'T', 'Z', 'i', 'f', '2'};
        head[20 + 4 * 4 + 3] = 1;    /* typecnt */
        head[20 + 5 * 4 + 3] = 4;    /* charcnt */
        assert_true(n + sizeof head + sizeof block < cap);
        memcpy(out + n, head, sizeof head);
        n += sizeof head;
        memcpy(out + n, block, sizeof block);
        n += sizeof block;
    }
    n += (size_t)snprintf((char *)out + n, cap - n, "\n%s\n", footer);
    return n;
}

static void test_rules_match_glibc(void **state)
{
    /* US, EU (at 01:00 UTC: /1 in standard time), southern with a half
     * hour, Julian days with and without leap days, v3 negative and
     * past-24h times (Nuuk, Israel), a fixed zone. */
    static const char *const rules[] = {
        "PST8PDT,M3.2.0,M11.1.0",
        "GMT0BST,M3.5.0/1,M10.5.0",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "ABC3DEF,J60/0,J300/3",
        "ABC-3DEF,59/0,299/3",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "IST-2IDT,M3.4.4/26,M10.5.0",
        "<+0530>-5:30",
        "<-0330>3:30<-0230>,M3.2.0,M11.1.0",
    };
    unsigned char buf[512];
    (void)state;

    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        tzlocal_zone *z = NULL;
        char err[256];
        size_t n = tzif_with_footer(rules[i], buf, sizeof buf);
        if (tzlocal_parse(rules[i], buf, n, &z, err, sizeof err) != 0)
            fail_msg("%s: %s", rules[i], err);
        same_as_glibc(z, rules[i], utc("2019-01-01T00:00:00"), utc("2031-01-01T00:00:00"), 1800);
        tzlocal_free(z);
    }
}

/* RFC 8536 3.3.1: "EST5EDT,0/0,J365/25" is DST all year. glibc's
 * localtime_r (2.36) leaves its last five hours of each year in standard
 * time, so this one is checked against constants. */
static void test_all_year_dst(void **state)
{
    unsigned char buf[512];
    size_t n = tzif_with_footer("EST5EDT,0/0,J365/25", buf, sizeof buf);
    tzlocal_zone *z = NULL;
    char err[256];
    (void)state;

    assert_int_equal(tzlocal_parse("all-year", buf, n, &z, err, sizeof err), 0);
    is_at(z, "2019-01-01T00:00:00", -14400, true, "EDT", "2018-12-31 20:00 EDT",
          "2018-12-31T20:00:00-04:00");
    is_at(z, "2019-01-01T04:59:59", -14400, true, "EDT", "2019-01-01 00:59 EDT",
          "2019-01-01T00:59:59-04:00");
    is_at(z, "2019-07-01T12:00:00", -14400, true, "EDT", "2019-07-01 08:00 EDT",
          "2019-07-01T08:00:00-04:00");
    tzlocal_free(z);
}

static void test_bad_rules_refused(void **state)
{
    static const char *const rules[] = {
        "PS8", "PST", "PST8PDT", "PST8PDT,M3.2.0", "PST8PDT,M13.2.0,M11.1.0",
        "PST8PDT,M3.6.0,M11.1.0", "PST8PDT,M3.2.7,M11.1.0", "PST8PDT,J0,J365",
        "PST8PDT,M3.2.0/168,M11.1.0", "<+05", "<+05>-5x", "PST25",
    };
    unsigned char buf[512];
    (void)state;

    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        tzlocal_zone *z = NULL;
        char err[256];
        size_t n = tzif_with_footer(rules[i], buf, sizeof buf);
        if (tzlocal_parse("bad", buf, n, &z, err, sizeof err) == 0)
            fail_msg("footer '%s' was accepted", rules[i]);
        assert_null(z);
        assert_string_equal(err, "timezone 'bad': damaged TZif file (its footer is not a POSIX TZ "
                                 "rule)");
    }
}

/* ---- damaged files -------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(65536);
    assert_non_null(f);
    assert_non_null(buf);
    *len = fread(buf, 1, 65536, f);
    fclose(f);
    return buf;
}

/* Every proper prefix of a real file is refused, without reading past it
 * (ASan would say so); the whole file is read. */
static void test_truncated_files_refused(void **state)
{
    size_t len;
    unsigned char *buf = slurp(TZLOCAL_DIR "/America/Los_Angeles", &len);
    tzlocal_zone *z = NULL;
    char err[256];
    (void)state;

    for (size_t n = 0; n < len; n++) {
        unsigned char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, buf, n);
        if (tzlocal_parse("LA", copy, n, &z, err, sizeof err) == 0)
            fail_msg("a %zu-byte prefix of %zu was accepted", n, len);
        assert_null(z);
        free(copy);
    }
    assert_int_equal(tzlocal_parse("LA", buf, len, &z, err, sizeof err), 0);
    tzlocal_free(z);
    free(buf);
}

static void test_damaged_files_refused(void **state)
{
    size_t len;
    unsigned char *buf = slurp(TZLOCAL_DIR "/America/Los_Angeles", &len), *copy = malloc(len);
    size_t v2;   /* offset of the second header */
    tzlocal_zone *z = NULL;
    char err[256];
    (void)state;

    assert_non_null(copy);
    /* Not TZif. */
    memcpy(copy, buf, len);
    copy[0] = 'X';
    assert_int_equal(tzlocal_parse("LA", copy, len, &z, err, sizeof err), -1);
    assert_string_equal(err, "timezone 'LA': not a TZif file (no 'TZif' header): not a zone of "
                             "the tz database");
    /* The 64-bit block: a transition type out of range, then transitions
     * out of order. */
    v2 = 44 + 186 * 5 + 6 * 6 + 20 + 6 + 6;   /* timecnt 186, typecnt 6, charcnt 20, isstd/ut 6 */
    assert_int_equal(memcmp(buf + v2, "TZif2", 5), 0);
    memcpy(copy, buf, len);
    copy[v2 + 44 + 186 * 8] = 6;
    assert_int_equal(tzlocal_parse("LA", copy, len, &z, err, sizeof err), -1);
    assert_string_equal(err, "timezone 'LA': damaged TZif file (transitions out of order or of an "
                             "unknown type)");
    memcpy(copy, buf, len);
    memcpy(copy + v2 + 44 + 8, copy + v2 + 44, 8);
    assert_int_equal(tzlocal_parse("LA", copy, len, &z, err, sizeof err), -1);
    assert_string_equal(err, "timezone 'LA': damaged TZif file (transitions out of order or of an "
                             "unknown type)");
    /* No types at all. */
    memcpy(copy, buf, len);
    memset(copy + v2 + 20 + 16, 0, 4);
    assert_int_equal(tzlocal_parse("LA", copy, len, &z, err, sizeof err), -1);
    assert_string_equal(err, "timezone 'LA': damaged TZif file (impossible counts)");
    assert_null(z);
    free(copy);
    free(buf);

    /* A right/ zone counts leap seconds. */
    buf = slurp(TZLOCAL_DIR "/right/UTC", &len);
    assert_int_equal(tzlocal_parse("right/UTC", buf, len, &z, err, sizeof err), -1);
    assert_string_equal(err, "timezone 'right/UTC': its file counts leap seconds (a right/ zone); "
                             "records carry POSIX time: give the zone's plain name, e.g. "
                             "America/Los_Angeles");
    free(buf);
}

/* ---- names -------------------------------------------------------------------------- */

static void refused(const char *name, const char *want)
{
    const tzlocal_zone *z = (const tzlocal_zone *)1;
    char err[512];

    assert_int_equal(tzlocal_load(name, &z, err, sizeof err), -1);
    assert_null(z);
    if (strcmp(err, want) != 0)
        fail_msg("'%s': %s\n-- want: %s", name, err, want);
}

static void test_names(void **state)
{
    static const char *const not_names[] = {
        "", "/etc/passwd", "../etc/passwd", "America/../../etc/passwd", "America//Denver",
        "America/", ".hidden", "posix/America/Los_Angeles", "right/UTC", "localtime",
        "posixrules", "Factory", "America/Los Angeles", "Europe/London\n",
        "A123456789B123456789C123456789D123456789E123456789F123456789G12345",
    };
    char want[512];
    (void)state;

    for (size_t i = 0; i < sizeof not_names / sizeof not_names[0]; i++) {
        snprintf(want, sizeof want, "timezone '%.64s' is not an IANA zone name; give one such as "
                 "America/Los_Angeles or Europe/London", not_names[i]);
        refused(not_names[i], want);
    }
    refused("Mars/Olympus_Mons", "timezone 'Mars/Olympus_Mons' is not in the system tz database "
            "(/usr/share/zoneinfo/Mars/Olympus_Mons: No such file or directory); give an IANA "
            "name such as America/Los_Angeles (ls /usr/share/zoneinfo lists them)");
    refused("america/los_angeles", "timezone 'america/los_angeles' is not in the system tz "
            "database (/usr/share/zoneinfo/america/los_angeles: No such file or directory); give "
            "an IANA name such as America/Los_Angeles (ls /usr/share/zoneinfo lists them)");
    refused("America", "timezone 'America' is not a zone of the system tz database "
            "(/usr/share/zoneinfo/America is a directory of zones); give one such as "
            "America/Los_Angeles");
    refused("zone.tab", "timezone 'zone.tab': not a TZif file (no 'TZif' header): not a zone of "
            "the tz database");
    /* A link (backward name) and a fixed offset are zones. */
    is_at(zone("US/Pacific"), "2026-03-03T00:23:00", -28800, false, "PST", "2026-03-02 16:23 PST",
          "2026-03-02T16:23:00-08:00");
    is_at(zone("Etc/GMT+8"), "2026-07-01T00:00:00", -28800, false, "-08", "2026-06-30 16:00 -08",
          "2026-06-30T16:00:00-08:00");
    /* Cached: the same zone every time. */
    assert_ptr_equal(zone("Europe/London"), zone("Europe/London"));
}

/* An unusable name gives UTC (the rules go on judging) and one warning
 * per name, however often it is asked for. */
static void test_or_utc(void **state)
{
    char path[] = "/tmp/smp-tzlocal-log-XXXXXX", text[4096];
    int fd = mkstemp(path), saved = dup(STDERR_FILENO), lines = 0;
    ssize_t n;
    (void)state;

    assert_true(fd >= 0 && saved >= 0);
    log_set_level(LOG_WARN);
    fflush(stderr);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(tzlocal_or_utc("Mars/Olympus_Mons"), tzlocal_utc());
        assert_ptr_equal(tzlocal_or_utc("../etc/passwd"), tzlocal_utc());
    }
    assert_ptr_equal(tzlocal_or_utc("Asia/Kolkata"), zone("Asia/Kolkata"));
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    log_set_level(LOG_ERROR);
    n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    text[n] = '\0';
    for (const char *p = text; (p = strstr(p, "timezone unusable")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 2);
    if (!strstr(text, "timezone unusable zone=\"Mars/Olympus_Mons\" reason=\"timezone "
                      "'Mars/Olympus_Mons' is not in the system tz database"))
        fail_msg("log: %s", text);
    if (!strstr(text, "timezone unusable zone=\"../etc/passwd\" reason=\"timezone "
                      "'../etc/passwd' is not an IANA zone name"))
        fail_msg("log: %s", text);
}

/* ---- threads -------------------------------------------------------------------------- */

typedef struct worker {
    int id;
    int bad;
} worker;

static void *work(void *arg)
{
    static const char *const names[] = {"America/Los_Angeles", "Europe/London", "Asia/Kolkata",
                                        "Australia/Lord_Howe", "Pacific/Chatham"};
    worker *w = arg;

    for (int i = 0; i < 2000; i++) {
        const tzlocal_zone *z = NULL;
        char err[256], text[TZLOCAL_TEXT_LEN + 1];
        const char *name = names[(i + w->id) % 5];
        if (tzlocal_load(name, &z, err, sizeof err) != 0 || strcmp(tzlocal_name(z), name) != 0) {
            w->bad++;
            continue;
        }
        tzlocal_text(z, 1772497380, text);   /* 2026-03-03T00:23:00Z */
        if (strcmp(name, "America/Los_Angeles") == 0 && strcmp(text, "2026-03-02 16:23 PST") != 0)
            w->bad++;
    }
    return NULL;
}

/* Many threads loading and reading zones at once, from an empty cache
 * (run under TSan: make TSAN=1). */
static void test_threads(void **state)
{
    pthread_t th[8];
    worker w[8];
    (void)state;

    tzlocal_cache_clear();
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
}

static void test_calendar(void **state)
{
    int y, m, d;
    (void)state;

    assert_int_equal(tzlocal_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tzlocal_days_from_civil(2026, 3, 2), 20514);
    assert_int_equal(tzlocal_days_from_civil(1969, 12, 31), -1);
    for (int64_t day = -800000; day < 800000; day += 7) {
        tzlocal_civil_from_days(day, &y, &m, &d);
        assert_int_equal(tzlocal_days_from_civil(y, m, d), day);
    }
    assert_int_equal(tzlocal_parse_date("2028-02-29", &y, &m, &d), 0);
    assert_int_equal(tzlocal_parse_date("2026-02-29", &y, &m, &d), -1);
    assert_int_equal(tzlocal_parse_date("2026-3-02", &y, &m, &d), -1);
    assert_int_equal(tzlocal_parse_date("2026-03-0x", &y, &m, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_los_angeles_2026),
        cmocka_unit_test(test_london_2026),
        cmocka_unit_test(test_kolkata_half_hour),
        cmocka_unit_test(test_lord_howe),
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_zones_match_glibc),
        cmocka_unit_test(test_day_start_everywhere),
        cmocka_unit_test(test_rules_match_glibc),
        cmocka_unit_test(test_all_year_dst),
        cmocka_unit_test(test_bad_rules_refused),
        cmocka_unit_test(test_truncated_files_refused),
        cmocka_unit_test(test_damaged_files_refused),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_or_utc),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_calendar),
    };
    log_set_level(LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
