#include "conn_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

/* The subjectAltName names of a certificate, as text for messages. */
#define NAMES_MAX 512

const char *conn_cause_name(conn_cause c)
{
    switch (c) {
    case CONN_OK: return "ok";
    case CONN_NAME_NOT_RESOLVED: return "name-not-resolved";
    case CONN_REFUSED: return "refused";
    case CONN_UNREACHABLE: return "unreachable";
    case CONN_BROKER_CERT_UNTRUSTED: return "broker-cert-untrusted";
    case CONN_HOSTNAME_MISMATCH: return "hostname-mismatch";
    case CONN_OUR_CERT_EXPIRED: return "our-cert-expired";
    case CONN_OUR_CERT_REFUSED: return "our-cert-refused";
    case CONN_TLS_FAILED: return "tls-failed";
    case CONN_LOCAL_ERROR: return "local-error";
    }
    return "unknown";
}

static time_t x509_time_to_epoch(const mbedtls_x509_time *t)
{
    struct tm tm = {.tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                    .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec};
    return timegm(&tm);
}

/* ---- our own certificate ------------------------------------------------ */

static conn_cause check_own_cert(const mqtt_link_config *cfg, time_t now, char *detail, size_t len)
{
    mbedtls_x509_crt own;
    conn_cause cause = CONN_OK;

    mbedtls_x509_crt_init(&own);
    if (mbedtls_x509_crt_parse_file(&own, cfg->cert_file) != 0) {
        snprintf(detail, len, "cert_file %s is not a PEM certificate", cfg->cert_file);
        cause = CONN_LOCAL_ERROR;
    } else if (now > x509_time_to_epoch(&own.valid_to)) {
        snprintf(detail, len,
                 "our certificate cert_file %s expired on %04d-%02d-%02d; issue a new one "
                 "(smpctl pki renew-device) and point cert_file/key_file at it",
                 cfg->cert_file, own.valid_to.year, own.valid_to.mon, own.valid_to.day);
        cause = CONN_OUR_CERT_EXPIRED;
    } else if (now < x509_time_to_epoch(&own.valid_from)) {
        snprintf(detail, len,
                 "our certificate cert_file %s is not valid before %04d-%02d-%02d; is this "
                 "machine's clock right?",
                 cfg->cert_file, own.valid_from.year, own.valid_from.mon, own.valid_from.day);
        cause = CONN_OUR_CERT_EXPIRED;
    }
    mbedtls_x509_crt_free(&own);
    return cause;
}

/* ---- name resolution and TCP -------------------------------------------- */

/* Waits for a non-blocking connect; returns 0 or an errno value. */
static int finish_connect(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int so_error = 0;
    socklen_t n = sizeof so_error;

    int r = poll(&p, 1, timeout_ms);
    if (r == 0)
        return ETIMEDOUT;
    if (r < 0)
        return errno;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &n) != 0)
        return errno;
    return so_error;
}

static int tcp_connect_one(const struct addrinfo *ai, int timeout_ms, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    *err = r == 0 ? 0 : errno == EINPROGRESS ? finish_connect(fd, timeout_ms) : errno;
    if (*err != 0) {
        close(fd);
        return -1;
    }
    /* mbedTLS waits with its own read timeout; writes may block briefly. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static conn_cause tcp_connect(const mqtt_link_config *cfg, int timeout_ms, int *fd_out,
                              char *detail, size_t len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    int err = 0;

    snprintf(port, sizeof port, "%d", cfg->port);
    int g = getaddrinfo(cfg->host, port, &hints, &res);
    if (g != 0) {
        snprintf(detail, len,
                 "broker host name '%s' cannot be resolved here (%s); check broker_host, "
                 "DNS or /etc/hosts",
                 cfg->host, g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return CONN_NAME_NOT_RESOLVED;
    }
    /* The first address that accepts wins; the last error is reported. */
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        *fd_out = tcp_connect_one(ai, timeout_ms, &err);
        if (*fd_out >= 0) {
            freeaddrinfo(res);
            return CONN_OK;
        }
    }
    freeaddrinfo(res);
    if (err == ECONNREFUSED) {
        snprintf(detail, len,
                 "connection to %s:%d refused: nothing listens there; is the broker running "
                 "and does broker_port match its listener?",
                 cfg->host, cfg->port);
        return CONN_REFUSED;
    }
    snprintf(detail, len, "%s:%d is unreachable (%s); check the network path and firewalls",
             cfg->host, cfg->port, err == ETIMEDOUT ? "no answer within the timeout" : strerror(err));
    return CONN_UNREACHABLE;
}

/* ---- the broker certificate's names ------------------------------------- */

/* Appends prefix+name to a comma-separated list. The names come from the
 * peer's certificate: anything but a host-name character is shown as '?'
 * so a crafted name cannot forge a log line. */
static void append(char *out, size_t len, const char *prefix, char *name)
{
    size_t used = strlen(out);
    for (char *c = name; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*:_", *c))
            *c = '?';
    if (used < len)
        snprintf(out + used, len - used, "%s%s%s", used ? ", " : "", prefix, name);
}

/* True when name matches host: case-insensitive, with a leading "*." that
 * stands for exactly one label. */
static bool dns_matches(const char *name, size_t n, const char *host)
{
    if (n > 2 && name[0] == '*' && name[1] == '.') {
        const char *dot = strchr(host, '.');
        return dot && dot != host && strlen(dot) == n - 1 && strncasecmp(dot, name + 1, n - 1) == 0;
    }
    return strlen(host) == n && strncasecmp(host, name, n) == 0;
}

/* Walks the certificate's subjectAltName extension (mbedTLS 2.28 lists only
 * its DNS names, and the broker is often reached by IP address), collects
 * every DNS and IP name into names and says whether one matches host. */
static bool san_matches(const mbedtls_x509_crt *crt, const char *host, char *names, size_t len)
{
    unsigned char ip[16];
    int ip_len = inet_pton(AF_INET, host, ip) == 1 ? 4 : inet_pton(AF_INET6, host, ip) == 1 ? 16 : 0;
    unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len, *ext_end, *san_end;
    size_t n;
    bool match = false;

    names[0] = '\0';
    if (!p || mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return false;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return match;
        ext_end = p + n;
        if (mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_OID) != 0)
            return match;
        bool is_san = n == MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME) &&
                      memcmp(p, MBEDTLS_OID_SUBJECT_ALT_NAME, n) == 0;
        p += n;
        if (!is_san) {
            p = ext_end;
            continue;
        }
        int critical;
        if (mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0 && *p != MBEDTLS_ASN1_OCTET_STRING)
            return match;
        if (mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_OCTET_STRING) != 0 ||
            mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return match;
        san_end = p + n;
        while (p < san_end) {
            unsigned char tag = *p++;
            if (mbedtls_asn1_get_len(&p, san_end, &n) != 0)
                return match;
            char text[INET6_ADDRSTRLEN + 1];
            if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && n < 256) {
                snprintf(text, sizeof text, "%.*s", (int)(n < sizeof text - 1 ? n : sizeof text - 1), p);
                append(names, len, "DNS:", text);
                match |= ip_len == 0 && dns_matches((const char *)p, n, host);
            } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && (n == 4 || n == 16)) {
                inet_ntop(n == 4 ? AF_INET : AF_INET6, p, text, sizeof text);
                append(names, len, "IP:", text);
                match |= (size_t)ip_len == n && memcmp(ip, p, n) == 0;
            }
            p += n;
        }
        return match;
    }
    return match;
}

/* ---- TLS ----------------------------------------------------------------- */

typedef struct tls_parts {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca, own;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_net_context net;
} tls_parts;

static void tls_init(tls_parts *t)
{
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_x509_crt_init(&t->own);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_ssl_init(&t->ssl);
    mbedtls_net_init(&t->net);
}

static void tls_free(tls_parts *t)
{
    mbedtls_net_free(&t->net);
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_pk_free(&t->key);
    mbedtls_x509_crt_free(&t->own);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
}

static conn_cause tls_setup(tls_parts *t, const mqtt_link_config *cfg, int timeout_ms, char *detail,
                            size_t len)
{
    static const char pers[] = "smp-conn-probe";
    const char *file = cfg->ca_file;

    if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                              (const unsigned char *)pers, sizeof pers - 1) != 0) {
        snprintf(detail, len, "cannot seed the random generator for the TLS probe");
        return CONN_LOCAL_ERROR;
    }
    if (mbedtls_x509_crt_parse_file(&t->ca, cfg->ca_file) != 0 ||
        mbedtls_x509_crt_parse_file(&t->own, file = cfg->cert_file) != 0 ||
        mbedtls_pk_parse_keyfile(&t->key, file = cfg->key_file, NULL) != 0) {
        snprintf(detail, len, "%s cannot be read as PEM; check the TLS file settings", file);
        return CONN_LOCAL_ERROR;
    }
    /* Optional: the handshake completes whatever the broker's certificate
     * says, so its flags and names can be reported instead of one error. */
    if (mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
        mbedtls_ssl_conf_own_cert(&t->conf, &t->own, &t->key) != 0) {
        snprintf(detail, len, "cannot set up the TLS probe");
        return CONN_LOCAL_ERROR;
    }
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_read_timeout(&t->conf, (uint32_t)timeout_ms);
    if (mbedtls_ssl_setup(&t->ssl, &t->conf) != 0) {
        snprintf(detail, len, "cannot set up the TLS probe");
        return CONN_LOCAL_ERROR;
    }
    /* SNI carries names only; an address literal is checked in san_matches. */
    unsigned char ip[16];
    if (inet_pton(AF_INET, cfg->host, ip) != 1 && inet_pton(AF_INET6, cfg->host, ip) != 1)
        mbedtls_ssl_set_hostname(&t->ssl, cfg->host);
    mbedtls_ssl_set_bio(&t->ssl, &t->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
    return CONN_OK;
}

static const char *alert_name(unsigned char a)
{
    switch (a) {
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT: return "bad certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT: return "unsupported certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED: return "certificate revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED: return "certificate expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN: return "certificate unknown";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA: return "unknown CA";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED: return "access denied";
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE: return "handshake failure";
    case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR: return "decrypt error";
    default: return NULL;
    }
}

static conn_cause handshake_failed(tls_parts *t, const mqtt_link_config *cfg, int ret, char *detail,
                                   size_t len)
{
    char why[160];

    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && t->ssl.in_msg) {
        /* An alert after we sent our certificate is the broker's verdict on
         * it (OpenSSL answers a revoked, expired or foreign one this way). */
        unsigned char a = t->ssl.in_msg[1];
        const char *name = alert_name(a);
        snprintf(detail, len,
                 "the broker at %s:%d refused our certificate cert_file %s (TLS alert: %s); is it "
                 "revoked, expired or issued by another CA? (smpctl pki status)",
                 cfg->host, cfg->port, cfg->cert_file, name ? name : "unexpected alert");
        return name ? CONN_OUR_CERT_REFUSED : CONN_TLS_FAILED;
    }
    /* A broker that refuses our certificate sends an alert and closes as
     * soon as it has read the certificate; when the close (a reset, while
     * the rest of our flight is unread or still being written) overtakes
     * the alert, only the state tells: our certificate had been sent. */
    if ((ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_SSL_CONN_EOF ||
         ret == MBEDTLS_ERR_NET_RECV_FAILED || ret == MBEDTLS_ERR_NET_SEND_FAILED) &&
        t->ssl.state > MBEDTLS_SSL_CLIENT_CERTIFICATE) {
        snprintf(detail, len,
                 "the broker at %s:%d refused our certificate cert_file %s (it closed the "
                 "connection right after receiving it; no TLS alert was read); is it revoked, "
                 "expired or issued by another CA? (smpctl pki status)",
                 cfg->host, cfg->port, cfg->cert_file);
        return CONN_OUR_CERT_REFUSED;
    }
    if (ret == MBEDTLS_ERR_SSL_TIMEOUT) {
        snprintf(detail, len, "%s:%d accepted TCP but did not answer the TLS handshake; is it the "
                 "broker's TLS port?", cfg->host, cfg->port);
        return CONN_TLS_FAILED;
    }
    mbedtls_strerror(ret, why, sizeof why);
    snprintf(detail, len, "TLS handshake with %s:%d failed: %s", cfg->host, cfg->port, why);
    return CONN_TLS_FAILED;
}

/* The handshake completed: judge the broker's certificate as Paho does
 * (chain to ca_file, then the host name). */
static conn_cause judge_broker_cert(tls_parts *t, const mqtt_link_config *cfg, char *detail, size_t len)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&t->ssl);
    uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl) & ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    char names[NAMES_MAX], why[256];

    if (!peer) {
        snprintf(detail, len, "the broker at %s:%d sent no certificate", cfg->host, cfg->port);
        return CONN_BROKER_CERT_UNTRUSTED;
    }
    if (flags != 0) {
        int n = mbedtls_x509_crt_verify_info(why, sizeof why, "", flags);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        for (char *c = why; *c; c++)
            if (*c == '\n')
                *c = ';';
        snprintf(detail, len, "the broker's certificate at %s:%d is not trusted with ca_file %s (%s)",
                 cfg->host, cfg->port, cfg->ca_file, why);
        return CONN_BROKER_CERT_UNTRUSTED;
    }
    if (!san_matches(peer, cfg->host, names, sizeof names)) {
        snprintf(detail, len,
                 "the broker's certificate does not name host '%s' (it names: %s); set broker_host "
                 "to one of those, or reissue it (smpctl pki issue-broker --host/--ip)",
                 cfg->host, names[0] ? names : "no subjectAltName");
        return CONN_HOSTNAME_MISMATCH;
    }
    return CONN_OK;
}

conn_cause conn_probe(const mqtt_link_config *cfg, int timeout_ms, time_t now, char *detail,
                      size_t detail_len)
{
    tls_parts t;
    int fd = -1, ret;
    conn_cause cause;

    detail[0] = '\0';
    if ((cause = check_own_cert(cfg, now, detail, detail_len)) != CONN_OK)
        return cause;
    if ((cause = tcp_connect(cfg, timeout_ms, &fd, detail, detail_len)) != CONN_OK)
        return cause;
    tls_init(&t);
    t.net.fd = fd;
    if ((cause = tls_setup(&t, cfg, timeout_ms, detail, detail_len)) != CONN_OK)
        goto cleanup;
    while ((ret = mbedtls_ssl_handshake(&t.ssl)) == MBEDTLS_ERR_SSL_WANT_READ ||
           ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        ;
    if (ret != 0) {
        cause = handshake_failed(&t, cfg, ret, detail, detail_len);
        goto cleanup;
    }
    if ((cause = judge_broker_cert(&t, cfg, detail, detail_len)) != CONN_OK)
        goto cleanup;
    /* With TLS 1.2 the broker may still reject our certificate after our
     * Finished; one read shows an alert if it did. */
    unsigned char byte;
    mbedtls_ssl_conf_read_timeout(&t.conf, 1000); /* an alert comes at once or not at all */
    ret = mbedtls_ssl_read(&t.ssl, &byte, 1);
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        cause = handshake_failed(&t, cfg, ret, detail, detail_len);
        goto cleanup;
    }
    mbedtls_ssl_close_notify(&t.ssl);
    snprintf(detail, detail_len,
             "TCP and TLS to %s:%d work with these files; the broker refused at the MQTT level "
             "(see its log: ACL, client id or session)",
             cfg->host, cfg->port);
    cause = CONN_OK;

cleanup:
    tls_free(&t); /* closes fd */
    return cause;
}
