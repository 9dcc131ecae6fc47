/* pki_san: the broker certificate's subjectAltName. Clients check the name
 * they dialled against it (mosquitto_pub and Paho do), so every DNS name and
 * address a broker is reached by must be listed; mbedTLS 2.28 has no SAN
 * writer, so GeneralNames is encoded here. */
#include "pki_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include <mbedtls/asn1write.h>

/* A host name per RFC 1123: dot-separated labels of letters, digits and
 * '-', 1..63 octets, not starting or ending with '-', 253 octets at most.
 * No wildcards: each broker gets the names it really has. */
int pki_check_host(const char *host, char *err, size_t errlen)
{
    size_t n = strlen(host), label = 0;
    unsigned char ip[16];
    size_t iplen;
    char ignored[160];

    if (n == 0 || n > PKI_HOST_MAX) {
        snprintf(err, errlen, "--host '%.64s': a DNS name is 1..%d characters", host, PKI_HOST_MAX);
        return -1;
    }
    if (pki_parse_ip(host, ip, &iplen, ignored, sizeof ignored) == 0) {
        snprintf(err, errlen, "--host '%s' is an IP address; give it with --ip %s", host, host);
        return -1;
    }
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || host[i - 1] == '-') {
                snprintf(err, errlen, "--host '%.64s': each dot-separated label must be 1..63 "
                         "characters and not end with '-'", host);
                return -1;
            }
            label = 0;
            continue;
        }
        if (!isalnum(c) && c != '-') {
            snprintf(err, errlen, "--host '%.64s': only letters, digits, '-' and '.' are allowed "
                     "in a DNS name (no wildcards)", host);
            return -1;
        }
        if (label == 0 && c == '-') {
            snprintf(err, errlen, "--host '%.64s': a label must not start with '-'", host);
            return -1;
        }
        label++;
    }
    return 0;
}

int pki_parse_ip(const char *s, unsigned char out[16], size_t *len, char *err, size_t errlen)
{
    /* inet_pton accepts only the plain dotted quad for AF_INET (no "1.2.3",
     * no octal), which is what a certificate should carry. */
    if (inet_pton(AF_INET, s, out) == 1) {
        *len = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        *len = 16;
        return 0;
    }
    snprintf(err, errlen, "--ip '%.64s' is not an IPv4 (192.0.2.10) or IPv6 (2001:db8::10) "
             "address; give DNS names with --host", s);
    return -1;
}

/* One GeneralName: [tag] IMPLICIT value, written back to front. */
static int write_name(unsigned char **p, unsigned char *start, unsigned char tag,
                      const unsigned char *val, size_t vlen, size_t *total)
{
    size_t len = 0;
    int ret; /* used by MBEDTLS_ASN1_CHK_ADD */

    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, val, vlen));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start, tag));
    *total += len;
    return 0;
}

/* subjectAltName ::= GeneralNames ::= SEQUENCE OF GeneralName, with
 * dNSName [2] IA5String and iPAddress [7] OCTET STRING (4 or 16 octets).
 * ASN.1 is written from the end of buf, so entries go in reverse to come
 * out in the order given: DNS names first, then addresses. */
int pki_san_der(const char *const *hosts, size_t nhosts, const char *const *ips, size_t nips,
                unsigned char *buf, size_t cap, unsigned char **der, size_t *len, char *err,
                size_t errlen)
{
    unsigned char *p = buf + cap;
    unsigned char ip[16];
    size_t total = 0, iplen;
    int ret;

    for (size_t i = nips; i-- > 0;) {
        if (pki_parse_ip(ips[i], ip, &iplen, err, errlen) != 0)
            return -1;
        if (write_name(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, ip, iplen, &total) != 0)
            goto too_long;
    }
    for (size_t i = nhosts; i-- > 0;) {
        if (write_name(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2,
                       (const unsigned char *)hosts[i], strlen(hosts[i]), &total) != 0)
            goto too_long;
    }
    if ((ret = mbedtls_asn1_write_len(&p, buf, total)) < 0)
        goto too_long;
    total += (size_t)ret;
    if ((ret = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
        goto too_long;
    total += (size_t)ret;
    *der = p;
    *len = total;
    return 0;
too_long:
    snprintf(err, errlen, "the --host/--ip names do not fit a certificate (%zu bytes); give fewer",
             cap);
    return -1;
}
