/* pki_status: `smpctl pki status` — what in a PKI dir expires when, so
 * that certificates meant to last years are renewed before a machine or the
 * broker is locked out. Meant for a daily cron job or monitoring check: the
 * exit code says whether anyone has to act.
 *
 * Only what is in use counts for the exit code: the CA, the broker, the
 * collectors and each device's current pair, unless revoked, and the CRL
 * (whose nextUpdate passing would make the broker refuse everyone). A kept
 * old pair or a revoked certificate expiring is the expected end of its
 * life, so it is listed but never makes the check fail. */
#include "pki.h"
#include "pki_int.h"

#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <mbedtls/x509_crl.h>

#define DAY_S 86400L

struct status_row {
    char file[PKI_REL_MAX];
    struct pki_certinfo ci;
    bool readable;
    const char *state;                 /* OK, WARN, EXPIRED, kept, revoked, UNREADABLE */
    char revoked[PKI_TIME_LEN + 1];    /* "" when not revoked */
    long days;
};

static long days_left(time_t until, time_t now)
{
    long s = (long)(until - now);

    return s >= 0 ? s / DAY_S : -((-s + DAY_S - 1) / DAY_S);
}

/* OK, WARN or EXPIRED for a date that matters; counts *bad. */
static const char *judge(time_t until, time_t now, long warn_days, int *bad)
{
    long s = (long)(until - now);

    if (s <= 0) {
        (*bad)++;
        return "EXPIRED";
    }
    if (s <= warn_days * DAY_S) {
        (*bad)++;
        return "WARN";
    }
    return "OK";
}

static void show_time(const char *t, char out[20])
{
    /* YYYYMMDDHHMMSSZ -> YYYY-MM-DD HH:MM:SS */
    if (strlen(t) != PKI_TIME_LEN) {
        snprintf(out, 20, "-");
        return;
    }
    snprintf(out, 20, "%.4s-%.2s-%.2s %.2s:%.2s:%.2s", t, t + 4, t + 6, t + 8, t + 10, t + 12);
}

static void fill_row(const char *dir, const char *rel, const struct pki_index *idx, time_t now,
                     long warn_days, struct status_row *r, int *bad)
{
    char path[PATH_MAX], why[PKI_ERR_MAX];
    const struct pki_entry *e;

    memset(r, 0, sizeof *r);
    snprintf(r->file, sizeof r->file, "%s", rel);
    if (pki_path(path, dir, rel, "", why, sizeof why) != 0 ||
        pki_certinfo_file(path, &r->ci, why, sizeof why) != 0) {
        fprintf(stderr, "smpctl pki status: %s\n", why);
        r->state = "UNREADABLE";
        (*bad)++;
        return;
    }
    r->readable = true;
    r->days = days_left(r->ci.not_after_t, now);
    e = pki_index_find(idx, r->ci.serial);
    if (e && e->status == 'R') {
        snprintf(r->revoked, sizeof r->revoked, "%s", e->revoked_at);
        r->state = "revoked";
    } else if (pki_is_archived(rel)) {
        r->state = "kept";
    } else {
        r->state = judge(r->ci.not_after_t, now, warn_days, bad);
    }
}

static size_t index_revoked(const struct pki_index *idx)
{
    size_t n = 0;

    for (size_t i = 0; i < idx->n; i++)
        n += idx->e[i].status == 'R';
    return n;
}

/* The CRL line: its nextUpdate is judged like a certificate's notAfter,
 * and a CRL listing fewer serials than index.txt revoked is STALE. */
static void crl_row(const char *dir, const struct pki_index *idx, time_t now, long warn_days,
                    FILE *out, int *bad)
{
    mbedtls_x509_crl crl;
    char path[PATH_MAX], why[PKI_ERR_MAX], t[PKI_TIME_LEN + 1], shown[20];
    const mbedtls_x509_time *nu;
    struct tm tm = {0};
    size_t listed = 0;
    time_t next;
    int ret;

    if (pki_path(path, dir, "crl", ".pem", why, sizeof why) != 0)
        return;
    mbedtls_x509_crl_init(&crl);
    ret = mbedtls_x509_crl_parse_file(&crl, path);
    if (ret != 0) {
        if (access(path, F_OK) != 0)
            fprintf(out, "note: no %s; the broker cannot refuse revoked certificates until "
                    "'smpctl pki crl --dir %s' writes one\n", path, dir);
        else {
            pki_tls_fail(why, sizeof why, "cannot parse", ret);
            fprintf(out, "UNREADABLE crl.pem: %s\n", why);
            (*bad)++;
        }
        goto cleanup;
    }
    for (const mbedtls_x509_crl_entry *e = &crl.entry; e && e->raw.p; e = e->next)
        listed++;
    nu = &crl.next_update;
    if (nu->year == 0) {
        fprintf(out, "%-10s crl.pem: %zu revoked, no nextUpdate\n", "OK", listed);
        goto cleanup;
    }
    tm.tm_year = nu->year - 1900;
    tm.tm_mon = nu->mon - 1;
    tm.tm_mday = nu->day;
    tm.tm_hour = nu->hour;
    tm.tm_min = nu->min;
    tm.tm_sec = nu->sec;
    next = timegm(&tm);
    pki_time_str(next, t);
    show_time(t, shown);
    fprintf(out, "%-10s crl.pem: %zu revoked, nextUpdate %s UTC (%ld days)%s\n",
            judge(next, now, warn_days, bad), listed, shown, days_left(next, now),
            days_left(next, now) <= warn_days
                ? "; after it the broker refuses EVERY client: renew the CA and the CRL" : "");
    if (listed < index_revoked(idx)) {
        fprintf(out, "%-10s crl.pem lists %zu revoked but index.txt has %zu: run 'smpctl pki "
                "crl --dir %s' and reload the broker\n", "STALE", listed, index_revoked(idx), dir);
        (*bad)++;
    }
cleanup:
    mbedtls_x509_crl_free(&crl);
}

static void print_rows(FILE *out, const struct status_row *rows, size_t n)
{
    int wf = 4, wc = 2;
    char shown[20], rev[20];

    for (size_t i = 0; i < n; i++) {
        if ((int)strlen(rows[i].file) > wf)
            wf = (int)strlen(rows[i].file);
        if ((int)strlen(rows[i].ci.cn) > wc)
            wc = (int)strlen(rows[i].ci.cn);
    }
    fprintf(out, "%-10s %-*s  %-*s  %-32s  %-19s  %6s  %s\n", "STATE", wf, "FILE", wc, "CN",
            "SERIAL", "NOT-AFTER (UTC)", "DAYS", "REVOKED");
    for (size_t i = 0; i < n; i++) {
        const struct status_row *r = &rows[i];
        if (!r->readable) {
            fprintf(out, "%-10s %-*s\n", r->state, wf, r->file);
            continue;
        }
        show_time(r->ci.not_after, shown);
        if (r->revoked[0])
            show_time(r->revoked, rev);
        fprintf(out, "%-10s %-*s  %-*s  %-32s  %-19s  %6ld  %s\n", r->state, wf, r->file, wc,
                r->ci.cn, r->ci.serial, shown, r->days, r->revoked[0] ? rev : "no");
    }
}

int pki_status(const char *dir, long warn_days, time_t now, FILE *out, char *err, size_t errlen)
{
    char (*files)[PKI_REL_MAX] = NULL;
    struct status_row *rows = NULL;
    struct pki_index idx = {0};
    char ca[PATH_MAX];
    size_t n = 0;
    int bad = 0, rc = -1;

    if (pki_path(ca, dir, "ca", ".crt", err, errlen) != 0 ||
        pki_need_existing(ca, dir, err, errlen) != 0)
        return -1;
    if (pki_index_load(dir, &idx, err, errlen) != 0 ||
        pki_list_cert_files(dir, &files, &n, err, errlen) != 0)
        goto cleanup;
    rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        snprintf(err, errlen, "status: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        fill_row(dir, files[i], &idx, now, warn_days, &rows[i], &bad);
    print_rows(out, rows, n);
    crl_row(dir, &idx, now, warn_days, out, &bad);
    if (bad)
        fprintf(out, "%d item(s) need attention (WARN: within %ld days)\n", bad, warn_days);
    rc = bad ? 1 : 0;
cleanup:
    free(rows);
    free(files);
    pki_index_free(&idx);
    return rc;
}
