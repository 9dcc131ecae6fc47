/* notify_webhook: one HTTP POST of an event, signed (notify_hmac.h). */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "notify_hmac.h"
#include "notify_transport.h"
#include "version.h"

/* The receiver's body is not ours to keep. */
static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p, (void)ctx;
    return size * n;
}

int notify__webhook(const notify_sink *s, int64_t event_id, const char *json,
                    const atomic_bool *cancel, char *detail, size_t cap)
{
    char secret[1024], hex[NOTIFY_HMAC_HEX], h_sig[128], h_id[64], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL, *h;
    CURL *c = NULL;
    long status = 0;
    int slen, rc = -1;

    if ((slen = notify_read_secret(s->secret_file, "webhook_secret_file", secret, sizeof secret,
                                   detail, cap)) < 0)
        return -1;
    if (notify_hmac_sha256_hex(secret, (size_t)slen, json, strlen(json), hex) != 0) {
        snprintf(detail, cap, "HMAC-SHA256 failed");
        goto cleanup;
    }
    snprintf(h_sig, sizeof h_sig, "X-Smpfleet-Signature: sha256=%s", hex);
    snprintf(h_id, sizeof h_id, "X-Smpfleet-Event-Id: %" PRId64, event_id);
    const char *lines[] = {"Content-Type: application/json", h_sig, h_id,
                           "User-Agent: smpfleet/" SMP_VERSION, "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(h = curl_slist_append(headers, lines[i]))) {
            snprintf(detail, cap, "out of memory");
            goto cleanup;
        }
        headers = h;
    }
    if (!(c = curl_easy_init())) {
        snprintf(detail, cap, "libcurl: cannot start a transfer");
        goto cleanup;
    }
    long timeout = (long)s->timeout_s;
    if (curl_easy_setopt(c, CURLOPT_URL, s->target) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json)) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 10 ? timeout : 10L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK ||
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
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    snprintf(detail, cap, "HTTP %ld", status);
    rc = status >= 200 && status < 300 ? 0 : -1;

cleanup:
    explicit_bzero(secret, sizeof secret);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return rc;
}
