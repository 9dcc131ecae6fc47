/* tzlocal: TZif (RFC 8536) and POSIX TZ rule reading, lookups and the
 * per-process zone cache. Why this exists rather than localtime_r: see
 * tzlocal.h. */
#include "tzlocal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define DAY_S 86400
/* RFC 8536: utoff SHOULD be in [-89999, 93599] (under 25 h / 26 h). */
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599
/* Bounds far above what tzdata holds (a few hundred transitions, a dozen
 * types, ~50 bytes of abbreviations per zone), so a damaged file cannot
 * make us allocate much. */
#define TRANS_MAX 4096
#define TYPES_MAX 256
#define CHARS_MAX 256
#define FILE_MAX (256 * 1024)
#define FOOTER_MAX 128

typedef struct tz_type {
    int32_t utoff;
    bool isdst;
    char abbr[TZLOCAL_ABBR_MAX + 1];
} tz_type;

/* A POSIX TZ rule date: Jn (1..365, Feb 29 never counted), n (0..365),
 * or Mm.w.d (day d of week w of month m, w 5 = the last); time is
 * seconds after local midnight (may be negative or past 24 h: v3). */
typedef struct tz_date {
    char kind;  /* 'J', 'n' or 'M' */
    int n, m, w, d;
    int32_t time;
} tz_date;

typedef struct tz_rule {
    tz_type std, dst;
    bool has_dst;
    tz_date start, end;   /* into DST (in standard time), out of it (in DST) */
} tz_rule;

struct tzlocal_zone {
    char name[TZLOCAL_NAME_MAX + 1];
    size_t ntrans, ntypes;
    int64_t *trans;          /* ascending */
    unsigned char *idx;      /* type of each transition */
    tz_type *types;
    bool has_rule;           /* the footer's rule, after the last transition */
    tz_rule rule;
};

/* ---- calendar ------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t tzlocal_days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tzlocal_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int weekday(int64_t days)
{
    return (int)(((days + 4) % 7 + 7) % 7);   /* 1970-01-01 was a Thursday */
}

int tzlocal_parse_date(const char *date, int *y, int *m, int *d)
{
    if (!date || strlen(date) != TZLOCAL_DATE_LEN || date[4] != '-' || date[7] != '-')
        return -1;
    for (int i = 0; i < TZLOCAL_DATE_LEN; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9'))
            return -1;
    *y = atoi(date);
    *m = atoi(date + 5);
    *d = atoi(date + 8);
    if (*y < 1 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
        return -1;
    return 0;
}

/* ---- the POSIX TZ rule of a TZif footer ---------------------------------- */

/* An abbreviation: <...> (letters, digits, + and -) or three or more
 * letters. NULL when there is none. */
static const char *parse_abbr(const char *p, char out[TZLOCAL_ABBR_MAX + 1])
{
    size_t n = 0;

    if (*p == '<') {
        for (p++; *p && *p != '>'; p++) {
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '+' || *p == '-') || n >= TZLOCAL_ABBR_MAX)
                return NULL;
            out[n++] = *p;
        }
        if (*p != '>')
            return NULL;
        p++;
    } else {
        for (; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'); p++) {
            if (n >= TZLOCAL_ABBR_MAX)
                return NULL;
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return n >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h, into seconds. */
static const char *parse_hms(const char *p, int max_h, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0}, k = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (;;) {
        int digits = 0, v = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if (digits == 0 || (k > 0 && (digits != 2 || v > 59)) || (k == 0 && v > max_h))
            return NULL;
        part[k++] = v;
        if (k == 3 || *p != ':')
            break;
        p++;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return p;
}

/* A POSIX offset is hours WEST of UTC ("PST8"): utoff is its negative. */
static const char *parse_utoff(const char *p, int32_t *utoff)
{
    int32_t west;
    if (!(p = parse_hms(p, 24, &west)))
        return NULL;
    *utoff = -west;
    return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out)
{
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_rule_date(const char *p, tz_date *d)
{
    memset(d, 0, sizeof *d);
    d->time = 2 * 3600;   /* POSIX default: 02:00 */
    if (*p == 'J') {
        d->kind = 'J';
        p = parse_num(p + 1, 1, 365, &d->n);
    } else if (*p == 'M') {
        d->kind = 'M';
        if ((p = parse_num(p + 1, 1, 12, &d->m)) && *p == '.' &&
            (p = parse_num(p + 1, 1, 5, &d->w)) && *p == '.')
            p = parse_num(p + 1, 0, 6, &d->d);
        else
            p = NULL;
    } else {
        d->kind = 'n';
        p = parse_num(p, 0, 365, &d->n);
    }
    if (p && *p == '/')
        p = parse_hms(p + 1, 167, &d->time);   /* RFC 8536 v3: -167..167 h */
    return p;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]. A rule with DST
 * and no dates is refused (tzdata always writes them). */
static int parse_rule(const char *s, tz_rule *r)
{
    const char *p = s;

    memset(r, 0, sizeof *r);
    if (!(p = parse_abbr(p, r->std.abbr)) || !(p = parse_utoff(p, &r->std.utoff)))
        return -1;
    if (*p == '\0')
        return 0;
    r->has_dst = true;
    r->dst.isdst = true;
    if (!(p = parse_abbr(p, r->dst.abbr)))
        return -1;
    r->dst.utoff = r->std.utoff + 3600;
    if (*p != ',' && *p != '\0' && !(p = parse_utoff(p, &r->dst.utoff)))
        return -1;
    if (*p != ',' || !(p = parse_rule_date(p + 1, &r->start)) || *p != ',' ||
        !(p = parse_rule_date(p + 1, &r->end)))
        return -1;
    return *p == '\0' ? 0 : -1;
}

/* Days since the epoch of the rule date d in year y. */
static int64_t rule_day(const tz_date *d, int y)
{
    int64_t jan1 = tzlocal_days_from_civil(y, 1, 1), first;
    int day;

    if (d->kind == 'J')
        return jan1 + d->n - 1 + (is_leap(y) && d->n >= 60);
    if (d->kind == 'n')
        return jan1 + d->n;
    first = tzlocal_days_from_civil(y, d->m, 1);
    day = 1 + (d->d - weekday(first) + 7) % 7 + (d->w - 1) * 7;
    while (day > days_in_month(y, d->m))
        day -= 7;
    return first + day - 1;
}

/* The rule's type at t: DST between the year's start and end. The year is
 * t's in standard time; a southern rule (end before start) is in DST
 * outside [end, start). */
static const tz_type *rule_at(const tz_rule *r, int64_t t)
{
    int y, m, d;
    int64_t start, end;

    if (!r->has_dst)
        return &r->std;
    tzlocal_civil_from_days(floor_div(t + r->std.utoff, DAY_S), &y, &m, &d);
    start = rule_day(&r->start, y) * DAY_S + r->start.time - r->std.utoff;
    end = rule_day(&r->end, y) * DAY_S + r->end.time - r->dst.utoff;
    if (start < end)
        return t >= start && t < end ? &r->dst : &r->std;
    return t >= end && t < start ? &r->std : &r->dst;
}

/* ---- TZif ------------------------------------------------------------------ */

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static bool take(reader *r, size_t n, const unsigned char **out)
{
    if (r->left < n)
        return false;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

enum { ISUTCNT, ISSTDCNT, LEAPCNT, TIMECNT, TYPECNT, CHARCNT };

typedef struct header {
    int version;           /* 1, 2, 3, 4 */
    uint32_t cnt[6];
} header;

static int fail(char *err, size_t errlen, const char *name, const char *why)
{
    snprintf(err, errlen, "timezone '%s': %s", name, why);
    return -1;
}

static int read_header(reader *r, header *h, const char *name, char *err, size_t errlen)
{
    const unsigned char *p;

    if (!take(r, 44, &p) || memcmp(p, "TZif", 4) != 0)
        return fail(err, errlen, name, "not a TZif file (no 'TZif' header): not a zone of the "
                    "tz database");
    h->version = p[4] == 0 ? 1 : p[4] - '0';
    if (h->version < 1 || h->version > 9)
        return fail(err, errlen, name, "unknown TZif version");
    for (int i = 0; i < 6; i++)
        h->cnt[i] = be32(p + 20 + 4 * i);
    return 0;
}

/* Bytes of a data block with tsize-byte times. */
static size_t block_size(const header *h, size_t tsize)
{
    const uint32_t *c = h->cnt;
    return (size_t)c[TIMECNT] * (tsize + 1) + (size_t)c[TYPECNT] * 6 + c[CHARCNT] +
           (size_t)c[LEAPCNT] * (tsize + 4) + c[ISSTDCNT] + c[ISUTCNT];
}

static bool counts_sane(const header *h)
{
    const uint32_t *c = h->cnt;
    return c[TIMECNT] <= TRANS_MAX && c[TYPECNT] >= 1 && c[TYPECNT] <= TYPES_MAX &&
           c[CHARCNT] >= 1 && c[CHARCNT] <= CHARS_MAX && c[LEAPCNT] <= TRANS_MAX &&
           (c[ISSTDCNT] == 0 || c[ISSTDCNT] == c[TYPECNT]) &&
           (c[ISUTCNT] == 0 || c[ISUTCNT] == c[TYPECNT]);
}

static int read_types(reader *r, const header *h, tzlocal_zone *z, const char *name, char *err,
                      size_t errlen)
{
    const unsigned char *info, *chars;
    uint32_t ntypes = h->cnt[TYPECNT], nchars = h->cnt[CHARCNT];

    if (!take(r, (size_t)ntypes * 6, &info) || !take(r, nchars, &chars))
        return fail(err, errlen, name, "truncated TZif file");
    if (!(z->types = calloc(ntypes, sizeof *z->types)))
        return fail(err, errlen, name, "out of memory");
    z->ntypes = ntypes;
    for (uint32_t i = 0; i < ntypes; i++) {
        const unsigned char *e = info + 6 * i;
        int32_t utoff = (int32_t)be32(e);
        const char *abbr = (const char *)chars + e[5];
        size_t len;
        if (utoff < UTOFF_MIN || utoff > UTOFF_MAX || e[4] > 1 || e[5] >= nchars)
            return fail(err, errlen, name, "damaged TZif file (a local time type is out of range)");
        len = strnlen(abbr, nchars - e[5]);
        if (len == nchars - e[5])
            return fail(err, errlen, name, "damaged TZif file (an abbreviation is not terminated)");
        z->types[i].utoff = utoff;
        z->types[i].isdst = e[4] == 1;
        snprintf(z->types[i].abbr, sizeof z->types[i].abbr, "%.*s",
                 (int)(len < TZLOCAL_ABBR_MAX ? len : TZLOCAL_ABBR_MAX), abbr);
    }
    return 0;
}

/* The data block of h with tsize-byte times into z. */
static int read_block(reader *r, const header *h, size_t tsize, tzlocal_zone *z,
                      const char *name, char *err, size_t errlen)
{
    const unsigned char *times, *idx, *rest;
    uint32_t n = h->cnt[TIMECNT];

    if (h->cnt[LEAPCNT] != 0)
        return fail(err, errlen, name, "its file counts leap seconds (a right/ zone); records "
                    "carry POSIX time: give the zone's plain name, e.g. " TZLOCAL_EXAMPLE);
    if (!take(r, (size_t)n * tsize, &times) || !take(r, n, &idx))
        return fail(err, errlen, name, "truncated TZif file");
    if (n > 0 && (!(z->trans = malloc(n * sizeof *z->trans)) || !(z->idx = malloc(n))))
        return fail(err, errlen, name, "out of memory");
    z->ntrans = n;
    for (uint32_t i = 0; i < n; i++) {
        z->trans[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        z->idx[i] = idx[i];
        if (idx[i] >= h->cnt[TYPECNT] || (i > 0 && z->trans[i] <= z->trans[i - 1]))
            return fail(err, errlen, name, "damaged TZif file (transitions out of order or of "
                        "an unknown type)");
    }
    if (read_types(r, h, z, name, err, errlen) != 0)
        return -1;
    if (!take(r, (size_t)h->cnt[ISSTDCNT] + h->cnt[ISUTCNT], &rest))
        return fail(err, errlen, name, "truncated TZif file");
    return 0;
}

/* "\n<rule>\n" after a version 2+ data block; an empty rule is none. */
static int read_footer(reader *r, tzlocal_zone *z, const char *name, char *err, size_t errlen)
{
    char text[FOOTER_MAX + 1];
    size_t n = 0;
    const unsigned char *c;

    if (!take(r, 1, &c) || *c != '\n')
        return fail(err, errlen, name, "truncated TZif file (no footer)");
    for (;;) {
        if (!take(r, 1, &c))
            return fail(err, errlen, name, "truncated TZif file (footer)");
        if (*c == '\n')
            break;
        if (n == FOOTER_MAX)
            return fail(err, errlen, name, "damaged TZif file (footer too long)");
        text[n++] = (char)*c;
    }
    text[n] = '\0';
    if (n == 0)
        return 0;
    if (parse_rule(text, &z->rule) != 0)
        return fail(err, errlen, name, "damaged TZif file (its footer is not a POSIX TZ rule)");
    z->has_rule = true;
    return 0;
}

/* Version 2+: the version 1 block (32-bit times) comes first and is
 * skipped; a second header and block with 64-bit times follow. */
static int skip_v1(reader *r, header *h, const char *name, char *err, size_t errlen)
{
    const unsigned char *skip;
    const uint32_t *c = h->cnt;

    if (c[TIMECNT] > TRANS_MAX || c[TYPECNT] > TYPES_MAX || c[CHARCNT] > CHARS_MAX ||
        c[LEAPCNT] > TRANS_MAX || c[ISSTDCNT] > TYPES_MAX || c[ISUTCNT] > TYPES_MAX)
        return fail(err, errlen, name, "damaged TZif file (impossible counts)");
    if (!take(r, block_size(h, 4), &skip))
        return fail(err, errlen, name, "truncated TZif file");
    return read_header(r, h, name, err, errlen);
}

int tzlocal_parse(const char *name, const unsigned char *buf, size_t len, tzlocal_zone **out,
                  char *err, size_t errlen)
{
    reader r = {buf, len};
    tzlocal_zone *z;
    header h;

    *out = NULL;
    if (!(z = calloc(1, sizeof *z)))
        return fail(err, errlen, name, "out of memory");
    snprintf(z->name, sizeof z->name, "%s", name);
    if (read_header(&r, &h, name, err, errlen) != 0 ||
        (h.version >= 2 && skip_v1(&r, &h, name, err, errlen) != 0))
        goto failed;
    if (!counts_sane(&h)) {
        fail(err, errlen, name, "damaged TZif file (impossible counts)");
        goto failed;
    }
    if (read_block(&r, &h, h.version >= 2 ? 8 : 4, z, name, err, errlen) != 0 ||
        (h.version >= 2 && read_footer(&r, z, name, err, errlen) != 0))
        goto failed;
    *out = z;
    return 0;

failed:
    tzlocal_free(z);
    return -1;
}

void tzlocal_free(tzlocal_zone *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z->types);
    free(z);
}

/* ---- lookups ----------------------------------------------------------------- */

static const tz_type utc_type = {0, false, "UTC"};
static const tzlocal_zone utc_zone = {
    .name = "UTC", .ntypes = 1, .types = (tz_type *)&utc_type,
};

const tzlocal_zone *tzlocal_utc(void)
{
    return &utc_zone;
}

const char *tzlocal_name(const tzlocal_zone *z)
{
    return z->name;
}

/* RFC 8536: before the first transition (or with none and no footer
 * rule) type 0; after the last one the footer's rule when there is one;
 * otherwise the type of the latest transition at or before t. */
static const tz_type *type_at(const tzlocal_zone *z, int64_t t)
{
    size_t lo = 0, hi = z->ntrans;

    if (z->ntrans == 0)
        return z->has_rule ? rule_at(&z->rule, t) : &z->types[0];
    if (t < z->trans[0])
        return &z->types[0];
    if (t > z->trans[z->ntrans - 1] && z->has_rule)
        return rule_at(&z->rule, t);
    while (hi - lo > 1) {   /* trans[lo] <= t < trans[hi] */
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return &z->types[z->idx[lo]];
}

void tzlocal_at(const tzlocal_zone *z, int64_t t, tzlocal_info *out)
{
    const tz_type *ty = type_at(z, t);

    out->utoff = ty->utoff;
    out->isdst = ty->isdst;
    memcpy(out->abbr, ty->abbr, sizeof out->abbr);
}

/* Local broken-down time at t. */
typedef struct local_tm {
    int y, mo, d, h, mi, s;
    tzlocal_info info;
} local_tm;

static void local_time(const tzlocal_zone *z, int64_t t, local_tm *lt)
{
    int64_t local, secs;

    tzlocal_at(z, t, &lt->info);
    local = t + lt->info.utoff;
    tzlocal_civil_from_days(floor_div(local, DAY_S), &lt->y, &lt->mo, &lt->d);
    secs = local - floor_div(local, DAY_S) * DAY_S;
    lt->h = (int)(secs / 3600);
    lt->mi = (int)(secs / 60 % 60);
    lt->s = (int)(secs % 60);
}

/* Years are printed as four digits: records' times are 0000..9999. */
static unsigned year4(int y)
{
    return (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y);
}

void tzlocal_date(const tzlocal_zone *z, int64_t t, char out[TZLOCAL_DATE_LEN + 1])
{
    local_tm lt;
    local_time(z, t, &lt);
    snprintf(out, TZLOCAL_DATE_LEN + 1, "%04u-%02u-%02u", year4(lt.y), (unsigned)lt.mo % 100u,
             (unsigned)lt.d % 100u);
}

void tzlocal_text(const tzlocal_zone *z, int64_t t, char out[TZLOCAL_TEXT_LEN + 1])
{
    local_tm lt;
    local_time(z, t, &lt);
    snprintf(out, TZLOCAL_TEXT_LEN + 1, "%04u-%02u-%02u %02u:%02u %s", year4(lt.y),
             (unsigned)lt.mo % 100u, (unsigned)lt.d % 100u, (unsigned)lt.h % 100u,
             (unsigned)lt.mi % 100u, lt.info.abbr);
}

void tzlocal_iso(const tzlocal_zone *z, int64_t t, char out[TZLOCAL_ISO_LEN + 1])
{
    local_tm lt;
    int32_t off;

    local_time(z, t, &lt);
    off = lt.info.utoff < 0 ? -lt.info.utoff : lt.info.utoff;
    snprintf(out, TZLOCAL_ISO_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u%c%02u:%02u", year4(lt.y),
             (unsigned)lt.mo % 100u, (unsigned)lt.d % 100u, (unsigned)lt.h % 100u,
             (unsigned)lt.mi % 100u, (unsigned)lt.s % 100u, lt.info.utoff < 0 ? '-' : '+',
             (unsigned)(off / 3600) % 100u, (unsigned)(off / 60 % 60));
}

int64_t tzlocal_day_number(const tzlocal_zone *z, int64_t t)
{
    return floor_div(t + type_at(z, t)->utoff, DAY_S);
}

/* Bisection for the first t whose local day is >= day: with |utoff| under
 * 26 h, 30 h either side of the day's UTC midnight brackets it. */
int64_t tzlocal_day_start(const tzlocal_zone *z, int y, int m, int d)
{
    int64_t day = tzlocal_days_from_civil(y, m, d);
    int64_t lo = day * DAY_S - 30 * 3600, hi = day * DAY_S + 30 * 3600;

    while (hi - lo > 1) {   /* local_day(lo) < day <= local_day(hi) */
        int64_t mid = lo + (hi - lo) / 2;
        if (tzlocal_day_number(z, mid) >= day)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* ---- names, files and the cache --------------------------------------------- */

/* A plain IANA name: components of letters, digits, '.', '_', '+', '-',
 * none empty or starting with '.', not the database's non-zones. */
static int check_name(const char *name, char *err, size_t errlen)
{
    static const char *const not_zones[] = {"localtime", "posixrules", "Factory"};
    size_t n = name ? strlen(name) : 0;
    bool start = true;

    if (n == 0 || n > TZLOCAL_NAME_MAX)
        goto bad;
    for (const char *p = name; *p; p++) {
        if (*p == '/') {
            if (start)
                goto bad;
            start = true;
            continue;
        }
        if ((start && *p == '.') ||
            !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '+' || *p == '-'))
            goto bad;
        start = false;
    }
    if (start || strncmp(name, "posix/", 6) == 0 || strncmp(name, "right/", 6) == 0)
        goto bad;
    for (size_t i = 0; i < sizeof not_zones / sizeof not_zones[0]; i++)
        if (strcmp(name, not_zones[i]) == 0)
            goto bad;
    return 0;
bad:
    snprintf(err, errlen, "timezone '%.*s' is not an IANA zone name; give one such as "
             TZLOCAL_EXAMPLE " or Europe/London", TZLOCAL_NAME_MAX, name ? name : "");
    return -1;
}

static int read_zone_file(const char *name, tzlocal_zone **out, char *err, size_t errlen)
{
    char path[sizeof TZLOCAL_DIR + TZLOCAL_NAME_MAX + 1];
    unsigned char *buf = NULL;
    struct stat sb;
    size_t got = 0;
    int fd, rc = -1;

    snprintf(path, sizeof path, "%s/%s", TZLOCAL_DIR, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "timezone '%s' is not in the system tz database (%s: %s); give an "
                 "IANA name such as " TZLOCAL_EXAMPLE " (ls " TZLOCAL_DIR " lists them)", name, path,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > FILE_MAX) {
        snprintf(err, errlen, "timezone '%s' is not a zone of the system tz database (%s is %s); "
                 "give one such as " TZLOCAL_EXAMPLE, name, path,
                 S_ISDIR(sb.st_mode) ? "a directory of zones" : "not a zone file");
        goto cleanup;
    }
    if (!(buf = malloc((size_t)sb.st_size + 1))) {
        snprintf(err, errlen, "timezone '%s': out of memory", name);
        goto cleanup;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "timezone '%s': reading %s: %s", name, path,
                     n < 0 ? strerror(errno) : "file shrank while read");
            goto cleanup;
        }
        got += (size_t)n;
    }
    rc = tzlocal_parse(name, buf, got, out, err, errlen);
cleanup:
    free(buf);
    close(fd);
    return rc;
}

typedef struct cached {
    struct cached *next;
    char *name;
    tzlocal_zone *zone;        /* NULL: it failed, err says why */
    char err[384];
    bool warned;
} cached;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached *cache;

/* The cache entry of name, read on first use (a name that is not a zone
 * name is an entry that failed, so that it is refused, and warned about,
 * once, like a missing file); NULL when out of memory. Called with
 * cache_lock held. */
static cached *entry_of(const char *name)
{
    cached *c;

    for (c = cache; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    if (!(c = calloc(1, sizeof *c)) || !(c->name = strdup(name))) {
        free(c);
        return NULL;
    }
    if (check_name(name, c->err, sizeof c->err) != 0 ||
        read_zone_file(name, &c->zone, c->err, sizeof c->err) != 0)
        c->zone = NULL;
    c->next = cache;
    cache = c;
    return c;
}

/* The zone of name, or NULL with err filled. warn (NULL: not asked):
 * whether the caller is the first to be refused it for a warning. */
static const tzlocal_zone *lookup(const char *name, char *err, size_t errlen, bool *warn)
{
    const tzlocal_zone *z = NULL;
    bool first = true;
    cached *c;

    if (!name) {
        check_name(name, err, errlen);
        if (warn)
            *warn = true;
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    if (!(c = entry_of(name))) {
        snprintf(err, errlen, "timezone '%s': out of memory", name);
    } else if (!(z = c->zone)) {
        snprintf(err, errlen, "%s", c->err);
        if (warn) {
            first = !c->warned;
            c->warned = true;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (warn)
        *warn = first;
    return z;
}

int tzlocal_load(const char *name, const tzlocal_zone **out, char *err, size_t errlen)
{
    return (*out = lookup(name, err, errlen, NULL)) ? 0 : -1;
}

const tzlocal_zone *tzlocal_or_utc(const char *name)
{
    const tzlocal_zone *z;
    char err[384];
    bool warn;

    if ((z = lookup(name, err, sizeof err, &warn)))
        return z;
    /* Once per name: a rule asks for the zone of every record it dates. */
    if (warn)
        log_warn("timezone unusable zone=%s reason=%s: the dates of clinics in it are judged in "
                 "UTC; give a zone of the tz database with smpctl clinic set <id> --timezone "
                 "ZONE", LOG_Q(name), LOG_Q(err));
    return &utc_zone;
}

void tzlocal_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache) {
        cached *next = cache->next;
        tzlocal_free(cache->zone);
        free(cache->name);
        free(cache);
        cache = next;
    }
    pthread_mutex_unlock(&cache_lock);
}
