/* pki_index: DIR/index.txt, the record of every certificate the fleet CA
 * issued and whether it is revoked. The CRL is generated from it, so it is
 * the one place a revocation is remembered; a certificate file can be
 * deleted, its revocation cannot.
 *
 * Modelled on openssl ca's index.txt: one line per certificate, fields
 * separated by a TAB:
 *
 *   status  not-after  revoked-at[,reason]  serial  file  CN
 *   V       20281231120000Z                 4A3F...  devices/dev-a.crt  dev-a
 *   R       20281231120000Z  20270101093000Z,keyCompromise  51C0...  devices/dev-a.51C0....crt  dev-a
 *
 * Times are UTC GeneralizedTime (always four-digit years, unlike openssl's
 * UTCTime), serial is upper-case hex, file is relative to DIR and follows
 * a renewal's archive rename. Lines starting with '#' are comments. */
#include "pki_int.h"
#include "sign.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#define INDEX_NAME "index.txt"
#define INDEX_MAX (16 * 1024 * 1024)
#define INDEX_HEADER                                                                  \
    "# smpctl pki index: one line per issued certificate, TAB-separated:\n"           \
    "# status (V valid, R revoked), not-after, revoked-at[,reason], serial (hex),\n" \
    "# file (relative to this directory), CN. Written by smpctl; edit with care.\n"

void pki_time_str(time_t t, char out[PKI_TIME_LEN + 1])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || strftime(out, PKI_TIME_LEN + 1, "%Y%m%d%H%M%SZ", &tm) != PKI_TIME_LEN)
        snprintf(out, PKI_TIME_LEN + 1, "00000000000000Z");
}

time_t pki_time_parse(const char *s)
{
    struct tm tm = {0};

    if (strlen(s) != PKI_TIME_LEN || s[14] != 'Z')
        return (time_t)-1;
    for (int i = 0; i < 14; i++)
        if (!isdigit((unsigned char)s[i]))
            return (time_t)-1;
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[8] - '0') * 10 + (s[9] - '0');
    tm.tm_min = (s[10] - '0') * 10 + (s[11] - '0');
    tm.tm_sec = (s[12] - '0') * 10 + (s[13] - '0');
    return timegm(&tm);
}

/* ---- certificate facts -------------------------------------------------- */

static void fill_info(const mbedtls_x509_crt *crt, struct pki_certinfo *ci)
{
    const mbedtls_x509_time *t = &crt->valid_to;
    struct tm tm = {0};

    memset(ci, 0, sizeof *ci);
    sign_serial_hex(crt->serial.p, crt->serial.len, ci->serial, sizeof ci->serial);
    for (const mbedtls_x509_name *nm = &crt->subject; nm; nm = nm->next) {
        if (nm->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0) {
            size_t k;
            for (k = 0; k < nm->val.len && k < PKI_CN_MAX; k++) {
                unsigned char c = nm->val.p[k];
                /* The index is TAB-separated and shown on terminals. */
                ci->cn[k] = (c > 0x20 && c < 0x7f) || c == ' ' ? (char)c : '?';
            }
            ci->cn[k] = '\0';
        }
    }
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    ci->not_after_t = timegm(&tm);
    pki_time_str(ci->not_after_t, ci->not_after);
    ci->is_ca = crt->ca_istrue != 0;
}

int pki_certinfo_pem(const char *pem, struct pki_certinfo *ci, char *err, size_t errlen)
{
    mbedtls_x509_crt crt;
    int ret;

    mbedtls_x509_crt_init(&crt);
    ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1);
    if (ret == 0)
        fill_info(&crt, ci);
    mbedtls_x509_crt_free(&crt);
    return ret == 0 ? 0 : pki_tls_fail(err, errlen, "parsing a certificate", ret);
}

int pki_certinfo_file(const char *path, struct pki_certinfo *ci, char *err, size_t errlen)
{
    mbedtls_x509_crt crt;
    char what[PATH_MAX + 32];
    int ret;

    mbedtls_x509_crt_init(&crt);
    ret = mbedtls_x509_crt_parse_file(&crt, path);
    if (ret == 0)
        fill_info(&crt, ci);
    mbedtls_x509_crt_free(&crt);
    if (ret != 0) {
        snprintf(what, sizeof what, "reading the certificate %s", path);
        return pki_tls_fail(err, errlen, what, ret);
    }
    return 0;
}

/* ---- the index file ----------------------------------------------------- */

static int index_path(const char *dir, char out[PATH_MAX], char *err, size_t errlen)
{
    return pki_path(out, dir, INDEX_NAME, "", err, errlen);
}

static int grow(struct pki_index *idx)
{
    if (idx->n == idx->cap) {
        size_t ncap = idx->cap ? idx->cap * 2 : 16;
        struct pki_entry *e = realloc(idx->e, ncap * sizeof *e);
        if (!e)
            return -1;
        idx->e = e;
        idx->cap = ncap;
    }
    return 0;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    if (strlen(src) >= cap)
        return -1;
    strcpy(dst, src);
    return 0;
}

/* Splits one line into its 6 fields and checks them. */
static int parse_line(char *line, struct pki_entry *e)
{
    char *f[6], *p = line, *comma;

    for (int i = 0; i < 6; i++) {
        f[i] = p;
        p = strchr(p, '\t');
        if (i < 5) {
            if (!p)
                return -1;
            *p++ = '\0';
        } else if (p) {
            return -1;
        }
    }
    memset(e, 0, sizeof *e);
    if ((strcmp(f[0], "V") != 0 && strcmp(f[0], "R") != 0) || pki_time_parse(f[1]) == (time_t)-1)
        return -1;
    e->status = f[0][0];
    comma = strchr(f[2], ',');
    if (comma) {
        *comma = '\0';
        if (copy_field(e->reason, sizeof e->reason, comma + 1) != 0)
            return -1;
    }
    if (e->status == 'R' && pki_time_parse(f[2]) == (time_t)-1)
        return -1;
    if (f[3][0] == '\0' || strspn(f[3], "0123456789ABCDEF") != strlen(f[3]))
        return -1;
    if (copy_field(e->not_after, sizeof e->not_after, f[1]) != 0 ||
        copy_field(e->revoked_at, sizeof e->revoked_at, f[2]) != 0 ||
        copy_field(e->serial, sizeof e->serial, f[3]) != 0 ||
        copy_field(e->file, sizeof e->file, f[4]) != 0 ||
        copy_field(e->cn, sizeof e->cn, f[5]) != 0)
        return -1;
    return 0;
}

int pki_index_load(const char *dir, struct pki_index *idx, char *err, size_t errlen)
{
    char path[PATH_MAX];
    char *text = NULL, *line, *next;
    int rc, lineno = 0;

    memset(idx, 0, sizeof *idx);
    if (index_path(dir, path, err, errlen) != 0)
        return -1;
    rc = pki_read_text(path, INDEX_MAX, &text, err, errlen);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return -1;
    for (line = text; *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (grow(idx) != 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        if (parse_line(line, &idx->e[idx->n]) != 0) {
            snprintf(err, errlen, "%s line %d is not 'status<TAB>not-after<TAB>revoked-at"
                     "<TAB>serial<TAB>file<TAB>CN'; fix or remove that line", path, lineno);
            goto fail;
        }
        idx->n++;
    }
    free(text);
    return 0;
fail:
    free(text);
    pki_index_free(idx);
    return -1;
}

int pki_index_save(const char *dir, const struct pki_index *idx, char *err, size_t errlen)
{
    char path[PATH_MAX];
    size_t cap = sizeof INDEX_HEADER + idx->n * (sizeof(struct pki_entry) + 16), len;
    char *buf = malloc(cap);
    int rc;

    if (!buf) {
        snprintf(err, errlen, "writing the index: out of memory");
        return -1;
    }
    len = (size_t)snprintf(buf, cap, "%s", INDEX_HEADER);
    for (size_t i = 0; i < idx->n; i++) {
        const struct pki_entry *e = &idx->e[i];
        len += (size_t)snprintf(buf + len, cap - len, "%c\t%s\t%s%s%s\t%s\t%s\t%s\n", e->status,
                                e->not_after, e->revoked_at, e->reason[0] ? "," : "", e->reason,
                                e->serial, e->file, e->cn);
    }
    rc = index_path(dir, path, err, errlen);
    if (rc == 0)
        rc = pki_replace_file(path, buf, len, PKI_CRT_MODE, err, errlen);
    free(buf);
    return rc;
}

void pki_index_free(struct pki_index *idx)
{
    free(idx->e);
    memset(idx, 0, sizeof *idx);
}

struct pki_entry *pki_index_find(const struct pki_index *idx, const char *serial)
{
    for (size_t i = 0; i < idx->n; i++)
        if (strcmp(idx->e[i].serial, serial) == 0)
            return &idx->e[i];
    return NULL;
}

int pki_index_put(struct pki_index *idx, const struct pki_certinfo *ci, const char *file,
                  char *err, size_t errlen)
{
    struct pki_entry *e = pki_index_find(idx, ci->serial);

    if (strlen(file) >= PKI_REL_MAX) {
        snprintf(err, errlen, "file name %s is too long for the index", file);
        return -1;
    }
    if (e) {
        snprintf(e->file, sizeof e->file, "%s", file);
        return 0;
    }
    if (grow(idx) != 0) {
        snprintf(err, errlen, "index: out of memory");
        return -1;
    }
    e = &idx->e[idx->n++];
    memset(e, 0, sizeof *e);
    e->status = 'V';
    snprintf(e->not_after, sizeof e->not_after, "%s", ci->not_after);
    snprintf(e->serial, sizeof e->serial, "%s", ci->serial);
    snprintf(e->file, sizeof e->file, "%s", file);
    snprintf(e->cn, sizeof e->cn, "%s", ci->cn[0] ? ci->cn : "-");
    return 0;
}

/* ---- certificate files of a PKI dir ------------------------------------- */

bool pki_is_archived(const char *rel)
{
    const char *base = strrchr(rel, '/');
    const char *dot;

    base = base ? base + 1 : rel;
    dot = strchr(base, '.');
    return dot && strcmp(dot, ".crt") != 0;
}

static int cmp_rel(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int scan_dir(const char *dir, const char *sub, char (**arr)[PKI_REL_MAX], size_t *n,
                    size_t *cap, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct dirent *de;
    DIR *d;

    if (snprintf(path, sizeof path, "%s%s%s", dir, sub[0] ? "/" : "", sub) >= (int)sizeof path) {
        snprintf(err, errlen, "path %s/%s is too long", dir, sub);
        return -1;
    }
    d = opendir(path);
    if (!d) {
        if (errno == ENOENT && sub[0])
            return 0;
        snprintf(err, errlen, "cannot list %s: %s; check --dir", path, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".crt") != 0 || de->d_name[0] == '.')
            continue;
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 32;
            char (*na)[PKI_REL_MAX] = realloc(*arr, ncap * sizeof **arr);
            if (!na) {
                closedir(d);
                snprintf(err, errlen, "listing %s: out of memory", path);
                return -1;
            }
            *arr = na;
            *cap = ncap;
        }
        if (snprintf((*arr)[*n], PKI_REL_MAX, "%s%s%s", sub, sub[0] ? "/" : "", de->d_name) <
            PKI_REL_MAX)
            (*n)++;
    }
    closedir(d);
    return 0;
}

int pki_list_cert_files(const char *dir, char (**out)[PKI_REL_MAX], size_t *n, char *err,
                        size_t errlen)
{
    char (*arr)[PKI_REL_MAX] = NULL;
    size_t cnt = 0, cap = 0;

    if (scan_dir(dir, "", &arr, &cnt, &cap, err, errlen) != 0 ||
        scan_dir(dir, "devices", &arr, &cnt, &cap, err, errlen) != 0) {
        free(arr);
        return -1;
    }
    if (cnt > 1)
        qsort(arr, cnt, sizeof *arr, cmp_rel);
    *out = arr;
    *n = cnt;
    return 0;
}

int pki_index_adopt(const char *dir, struct pki_index *idx, char *err, size_t errlen)
{
    char (*files)[PKI_REL_MAX] = NULL;
    char path[PATH_MAX];
    struct pki_certinfo ci;
    size_t n = 0;
    int rc = -1;

    if (pki_list_cert_files(dir, &files, &n, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (pki_path(path, dir, files[i], "", err, errlen) != 0 ||
            pki_certinfo_file(path, &ci, err, errlen) != 0)
            goto cleanup;
        if (!pki_index_find(idx, ci.serial) && pki_index_put(idx, &ci, files[i], err, errlen) != 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    free(files);
    return rc;
}

int pki_index_record(const char *dir, const struct pki_certinfo *ci, const char *file,
                     char *err, size_t errlen)
{
    struct pki_index idx = {0};
    int fd, rc = -1;

    if (pki_lock(dir, &fd, err, errlen) != 0)
        return -1;
    if (pki_index_load(dir, &idx, err, errlen) != 0 ||
        pki_index_adopt(dir, &idx, err, errlen) != 0 ||
        pki_index_put(&idx, ci, file, err, errlen) != 0 ||
        pki_index_save(dir, &idx, err, errlen) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    pki_index_free(&idx);
    pki_unlock(fd);
    return rc;
}
