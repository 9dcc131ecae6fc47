#include "verify.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define READ_MAX (64L * 1024 * 1024)   /* manifest.json of a fleet-year is far smaller */

/* The three files manifest.json cannot list: itself, its signature, the key. */
static const char *const unlisted[] = {"manifest.json", "manifest.sig", "export-pub.pem"};

typedef struct blob {
    char *data;
    size_t len;
} blob;

static void problem(verify_result *r, const char *fmt, ...)
{
    va_list ap;

    if (r->nproblems < VERIFY_PROBLEMS_MAX) {
        va_start(ap, fmt);
        vsnprintf(r->problems[r->nproblems], VERIFY_LINE_MAX, fmt, ap);
        va_end(ap);
    }
    r->nproblems++;
}

/* Reads dir/name whole; false (and a problem named after the file) when
 * it is missing or unreadable. */
static bool read_file(verify_result *r, const char *dir, const char *name, blob *out)
{
    char path[PATH_MAX];
    FILE *f;
    long n;

    out->data = NULL;
    out->len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((f = fopen(path, "rb")) == NULL) {
        problem(r, "%s: %s", name, errno == ENOENT ? "missing" : strerror(errno));
        return false;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > READ_MAX ||
        fseek(f, 0, SEEK_SET) != 0 || (out->data = malloc((size_t)n + 1)) == NULL ||
        fread(out->data, 1, (size_t)n, f) != (size_t)n) {
        problem(r, "%s: cannot be read (or larger than %ld bytes)", name, READ_MAX);
        fclose(f);
        free(out->data);
        out->data = NULL;
        return false;
    }
    fclose(f);
    out->data[n] = '\0';
    out->len = (size_t)n;
    return true;
}

/* A DER ECDSA signature: SEQUENCE { INTEGER r, INTEGER s }, short form
 * lengths (P-256 needs no more), nothing after it. */
static bool der_signature(const unsigned char *p, size_t len)
{
    size_t i = 2;

    if (len < 8 || p[0] != 0x30 || p[1] != len - 2)
        return false;
    for (int k = 0; k < 2; k++) {
        if (i + 2 > len || p[i] != 0x02 || p[i + 1] == 0 || p[i + 1] > 33)
            return false;
        i += 2 + p[i + 1];
    }
    return i == len;
}

/* A signature that does not verify cannot say which of the two signed
 * files changed, unless the signature is not even well-formed: then it
 * is manifest.sig. Otherwise both are named. */
static void check_signature(verify_result *r, const blob *manifest, const blob *sig,
                            const blob *pub)
{
    char why[256];
    int bad_key = 0;

    if (bundle_verify(pub->data, pub->len, manifest->data, manifest->len,
                      (const unsigned char *)sig->data, sig->len, r->fingerprint, &bad_key, why,
                      sizeof why) == 0)
        return;
    if (bad_key) {
        problem(r, "export-pub.pem: %s", why);
    } else if (!der_signature((const unsigned char *)sig->data, sig->len)) {
        problem(r, "manifest.sig: not a DER ECDSA signature");
    } else {
        problem(r, "manifest.json: does not match its signature manifest.sig under "
                   "export-pub.pem: it or manifest.sig was changed after signing");
        problem(r, "manifest.sig: is not a signature of manifest.json under export-pub.pem: "
                   "it or manifest.json was changed after signing");
    }
}

static bool is_unlisted(const char *name)
{
    for (size_t i = 0; i < sizeof unlisted / sizeof unlisted[0]; i++)
        if (strcmp(name, unlisted[i]) == 0)
            return true;
    return false;
}

/* A listed name must be a plain file name of this directory. */
static bool plain_name(const char *name)
{
    return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL &&
           strlen(name) < NAME_MAX && !is_unlisted(name);
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static void check_file(verify_result *r, const char *dir, const char *name, const char *want)
{
    char path[PATH_MAX], have[BUNDLE_HEX_LEN], why[PATH_MAX + 64];
    uint64_t bytes;
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lstat(path, &st) != 0) {
        problem(r, "%s: listed in manifest.json but missing", name);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        problem(r, "%s: listed in manifest.json but not a regular file", name);
        return;
    }
    if (bundle_hash_file(path, have, &bytes, why, sizeof why) != 0) {
        problem(r, "%s: cannot be read", name);
        return;
    }
    if (strcmp(have, want) != 0) {
        problem(r, "%s: SHA-256 mismatch (manifest.json says %.16s..., the file has %.16s...)",
                name, want, have);
        return;
    }
    r->files_checked++;
}

/* Every file manifest.json lists, against its SHA-256. */
static void check_listed(verify_result *r, const char *dir, const cJSON *files)
{
    const cJSON *f;

    if (!cJSON_IsArray(files)) {
        problem(r, "manifest.json: no \"files\" list");
        return;
    }
    cJSON_ArrayForEach(f, files) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        if (!cJSON_IsString(name) || !plain_name(name->valuestring) || !cJSON_IsString(sha) ||
            !is_hex64(sha->valuestring)) {
            problem(r, "manifest.json: a \"files\" entry is not a plain file name with a SHA-256");
            continue;
        }
        check_file(r, dir, name->valuestring, sha->valuestring);
    }
}

static const char *listed_hash(const cJSON *files, const char *name)
{
    const cJSON *f;

    cJSON_ArrayForEach(f, files) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        if (cJSON_IsString(n) && cJSON_IsString(sha) && strcmp(n->valuestring, name) == 0)
            return sha->valuestring;
    }
    return NULL;
}

/* Nothing in dir that manifest.json does not account for. */
static void check_unlisted(verify_result *r, const char *dir, const cJSON *files)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        problem(r, "%s: cannot list the directory: %s", dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            is_unlisted(e->d_name) || listed_hash(files, e->d_name) != NULL)
            continue;
        problem(r, "%s: not listed in manifest.json (an extra file)", e->d_name);
    }
    closedir(d);
}

/* SHA256SUMS, when listed, must say what manifest.json says. */
static void check_sums(verify_result *r, const char *dir, const cJSON *files)
{
    char line[PATH_MAX + 80], path[PATH_MAX];
    size_t lines = 0;
    FILE *f;

    if (listed_hash(files, "SHA256SUMS") == NULL)
        return;
    snprintf(path, sizeof path, "%s/SHA256SUMS", dir);
    if ((f = fopen(path, "r")) == NULL)
        return;   /* already reported as missing */
    while (fgets(line, sizeof line, f)) {
        char *name = line + 66;
        const char *want;
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ') {
            problem(r, "SHA256SUMS: a line is not \"<sha256>  <name>\"");
            continue;
        }
        line[64] = '\0';
        lines++;
        want = listed_hash(files, name);
        if (want == NULL || strcmp(want, line) != 0)
            problem(r, "SHA256SUMS: its line for %s disagrees with manifest.json", name);
    }
    fclose(f);
    if (lines + 1 != (size_t)cJSON_GetArraySize(files))
        problem(r, "SHA256SUMS: lists %zu files, manifest.json %d besides SHA256SUMS", lines,
                cJSON_GetArraySize(files) - 1);
}

static void summarize_chains(verify_result *r, const cJSON *m)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "chains");
    static const char *const keys[] = {"intact", "gaps", "broken", "no records"};
    size_t n = 0;

    r->chains[0] = '\0';
    for (size_t i = 0; i < 4 && cJSON_IsObject(c); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, keys[i]);
        if (cJSON_IsNumber(v))
            n += (size_t)snprintf(r->chains + n, n < sizeof r->chains ? sizeof r->chains - n : 0,
                                  "%s%d %s", n ? ", " : "", v->valueint, keys[i]);
    }
}

static void check_manifest(verify_result *r, const char *dir, const blob *manifest)
{
    cJSON *m = cJSON_ParseWithLength(manifest->data, manifest->len);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(m, "format");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(m, "signature");
    const cJSON *fpr = cJSON_GetObjectItemCaseSensitive(sig, "public_key_sha256");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");

    if (m == NULL || !cJSON_IsString(format) ||
        strcmp(format->valuestring, "smpfleet-audit-export") != 0) {
        problem(r, "manifest.json: not an smpfleet audit export manifest (not JSON, or no "
                   "\"format\": \"smpfleet-audit-export\")");
        cJSON_Delete(m);
        return;
    }
    if (r->fingerprint[0] &&
        (!cJSON_IsString(fpr) || strcmp(fpr->valuestring, r->fingerprint) != 0))
        problem(r, "export-pub.pem: not the key manifest.json names (fingerprints differ)");
    check_listed(r, dir, files);
    if (cJSON_IsArray(files)) {
        check_unlisted(r, dir, files);
        check_sums(r, dir, files);
    }
    summarize_chains(r, m);
    cJSON_Delete(m);
}

int verify_bundle(const char *dir, verify_result *r)
{
    blob manifest = {0}, sig = {0}, pub = {0};
    struct stat st;

    memset(r, 0, sizeof *r);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        problem(r, "%s: not a directory", dir);
        return 1;
    }
    bool have_manifest = read_file(r, dir, "manifest.json", &manifest);
    bool have_sig = read_file(r, dir, "manifest.sig", &sig);
    bool have_pub = read_file(r, dir, "export-pub.pem", &pub);
    if (have_manifest && have_sig && have_pub)
        check_signature(r, &manifest, &sig, &pub);
    if (have_manifest)
        check_manifest(r, dir, &manifest);
    free(manifest.data);
    free(sig.data);
    free(pub.data);
    return r->nproblems == 0 ? 0 : 1;
}

int verify_cmd(int argc, char **argv)
{
    verify_result *r;
    int rc;

    if (argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
        printf("usage: smpctl verify DIR   (a bundle written by smpctl export)\n");
        return 0;
    }
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: smpctl verify DIR   (a bundle written by smpctl export)\n");
        return 2;
    }
    if ((r = malloc(sizeof *r)) == NULL) {
        fprintf(stderr, "smpctl verify: out of memory\n");
        return 1;
    }
    rc = verify_bundle(argv[0], r);
    for (size_t i = 0; i < r->nproblems && i < VERIFY_PROBLEMS_MAX; i++)
        printf("%s\n", r->problems[i]);
    if (rc == 0) {
        printf("smpctl verify: %s is intact: signature valid, %zu files match manifest.json, "
               "nothing unlisted\n  export key fingerprint (SHA-256): %s\n  record chains: %s\n",
               argv[0], r->files_checked, r->fingerprint, r->chains[0] ? r->chains : "-");
    } else {
        printf("smpctl verify: %s is NOT intact: %zu problem(s)\n", argv[0], r->nproblems);
    }
    free(r);
    return rc;
}
