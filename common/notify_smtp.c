/* notify_smtp: an event as a plain-text e-mail, over smtp:// or smtps://
 * (libcurl). Header values are made safe (no CR/LF: no header injection;
 * non-ASCII as RFC 2047), lines end in CRLF and stay short. */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notify_transport.h"

typedef struct mbuf {
    char *p;
    size_t len, cap, sent;
    bool oom;
} mbuf;

static void put(mbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(mbuf *b, const char *s) { put(b, s, strlen(s)); }

/* Text for a body line: bare LF becomes CRLF, CR and other controls but TAB a space. */
static void put_text(mbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            puts_(b, "\r\n");
        else if ((unsigned char)*s < 0x20 && *s != '\t')
            put(b, " ", 1);
        else
            put(b, s, 1);
    }
}

/* A header value: controls become spaces; when any byte is not ASCII the
 * value is one RFC 2047 encoded word (UTF-8, base64). */
static void put_header(mbuf *b, const char *name, const char *value)
{
    char clean[512];
    size_t n = 0;
    bool ascii = true;

    for (const char *s = value; *s && n < sizeof clean - 1; s++) {
        unsigned char c = (unsigned char)*s;
        clean[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
        ascii &= c < 0x80;
    }
    clean[n] = '\0';
    puts_(b, name);
    puts_(b, ": ");
    if (ascii) {
        puts_(b, clean);
    } else {
        unsigned char enc[800];
        size_t olen = 0;
        if (mbedtls_base64_encode(enc, sizeof enc, &olen, (const unsigned char *)clean, n) != 0)
            olen = 0;
        puts_(b, "=?UTF-8?B?");
        put(b, (const char *)enc, olen);
        puts_(b, "?=");
    }
    puts_(b, "\r\n");
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

/* At most max bytes of s, cut on a UTF-8 character boundary. */
static int utf8_cut(const char *s, int max)
{
    int n = (int)strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static void build_message(const notify_sink *s, int64_t event_id, const cJSON *ev, mbuf *b)
{
    char subject[400], line[1200], date[64], host[128] = "localhost";
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    const cJSON *evidence = cJSON_GetObjectItemCaseSensitive(ev, "evidence");
    const char *event = str(ev, "event"), *sev = str(ev, "severity"), *msg = str(ev, "message");
    char sev_upper[32];
    time_t now = time(NULL);
    struct tm tm;

    for (size_t i = 0; i < sizeof sev_upper - 1 && (sev_upper[i] = sev[i]); i++)
        if (sev_upper[i] >= 'a' && sev_upper[i] <= 'z')
            sev_upper[i] = (char)(sev_upper[i] - 'a' + 'A');
    sev_upper[sizeof sev_upper - 1] = '\0';
    snprintf(subject, sizeof subject, "[smpfleet] %s %s %s: %s %s: %.*s", sev_upper, str(ev, "rule"),
             event, str(ev, "clinic"), str(ev, "device"), utf8_cut(msg, 120), msg);
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    gethostname(host, sizeof host - 1);

    put_header(b, "Date", date);
    put_header(b, "From", s->from);
    put_header(b, "To", s->to);
    put_header(b, "Subject", subject);
    /* The same event mailed twice (at-least-once) carries the same id. */
    snprintf(line, sizeof line, "<smpfleet-event-%" PRId64 "@%s>", event_id, host);
    put_header(b, "Message-ID", line);
    snprintf(line, sizeof line, "%" PRId64, event_id);
    put_header(b, "X-Smpfleet-Event-Id", line);
    puts_(b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n");

    snprintf(line, sizeof line, "%s alert %s (severity %s) at %s\n\n%s\n\n", str(ev, "rule"), event,
             sev, str(ev, "at"), msg);
    put_text(b, line);
    snprintf(line, sizeof line,
             "clinic:   %s\ndevice:   %s\nrule:     %s\nseverity: %s\ncause:    %s\n", str(ev, "clinic"),
             str(ev, "device"), str(ev, "rule"), sev, str(ev, "cause"));
    put_text(b, line);
    if (cJSON_IsNumber(id) && id->valuedouble > 0) {
        snprintf(line, sizeof line,
                 "alert id: %.0f (acknowledge: smpctl alerts ack %.0f --by NAME --db PATH)\n",
                 id->valuedouble, id->valuedouble);
        put_text(b, line);
    }
    snprintf(line, sizeof line,
             "event id: %" PRId64 " (a repeated delivery of this event has the same id)\n",
             event_id);
    put_text(b, line);
    if (evidence) {
        char *pretty = cJSON_Print(evidence);
        puts_(b, "\r\nevidence:\r\n");
        if (pretty) {
            put_text(b, pretty);
            puts_(b, "\r\n");
        }
        free(pretty);
    }
}

static size_t read_body(char *out, size_t size, size_t n, void *ctx)
{
    mbuf *b = ctx;
    size_t left = b->len - b->sent, take = size * n < left ? size * n : left;
    memcpy(out, b->p + b->sent, take);
    b->sent += take;
    return take;
}

int notify__smtp(const notify_sink *s, int64_t event_id, const char *json,
                 const atomic_bool *cancel, char *detail, size_t cap)
{
    char cred[1024] = "", curl_err[CURL_ERROR_SIZE] = "", rcpt[CONFIG_STR_MAX], *save = NULL, *addr;
    struct curl_slist *rcpts = NULL, *r;
    cJSON *ev = cJSON_Parse(json);
    mbuf b = {0};
    CURL *c = NULL;
    int rc = -1;

    if (!ev) {
        snprintf(detail, cap, "event is not JSON");
        goto cleanup;
    }
    if (s->secret_file[0] &&
        notify_read_secret(s->secret_file, "smtp_credentials_file", cred, sizeof cred, detail,
                           cap) < 0)
        goto cleanup;
    char *colon = strchr(cred, ':');
    if (s->secret_file[0] && !colon) {
        snprintf(detail, cap, "smtp_credentials_file %s: write user:password on its first line",
                 s->secret_file);
        goto cleanup;
    }
    if (colon)
        *colon = '\0';
    snprintf(rcpt, sizeof rcpt, "%s", s->to);
    for (addr = strtok_r(rcpt, ", ", &save); addr; addr = strtok_r(NULL, ", ", &save)) {
        if (!(r = curl_slist_append(rcpts, addr))) {
            snprintf(detail, cap, "out of memory");
            goto cleanup;
        }
        rcpts = r;
    }
    build_message(s, event_id, ev, &b);
    if (b.oom || !(c = curl_easy_init())) {
        snprintf(detail, cap, "out of memory");
        goto cleanup;
    }
    long timeout = (long)s->timeout_s;
    /* Credentials never cross the network in clear: with them, smtp://
     * must upgrade with STARTTLS; without (a local relay), it may. */
    long tls = colon ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY;
    if (curl_easy_setopt(c, CURLOPT_URL, s->target) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_USE_SSL, tls) != CURLE_OK ||
        (colon && (curl_easy_setopt(c, CURLOPT_USERNAME, cred) != CURLE_OK ||
                   curl_easy_setopt(c, CURLOPT_PASSWORD, colon + 1) != CURLE_OK)) ||
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, s->from) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_READDATA, &b) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_INFILESIZE, (long)b.len) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 10 ? timeout : 10L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, notify__curl_cancel) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK) {
        snprintf(detail, cap, "libcurl: an option was refused (libcurl too old?)");
        goto cleanup;
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(detail, cap, "%s", curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto cleanup;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    snprintf(detail, cap, "SMTP %ld accepted", code);
    rc = 0;

cleanup:
    explicit_bzero(cred, sizeof cred);
    curl_easy_cleanup(c);
    curl_slist_free_all(rcpts);
    cJSON_Delete(ev);
    free(b.p);
    return rc;
}
