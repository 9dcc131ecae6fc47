/* conn_probe: why can't we reach the broker?
 *
 * Paho reports a failed TLS connect as "code -1" at best: the reason stays
 * inside OpenSSL. When a connect fails, the daemon runs this probe once on a
 * thread of its own (conn_diag.h): it resolves the host, opens a TCP
 * connection and does its own TLS handshake with the same CA, certificate and
 * key, and names the first thing that goes wrong, in words an operator can
 * act on. The probe never sends MQTT; the broker sees one more TLS session. */
#ifndef SMP_CONN_PROBE_H
#define SMP_CONN_PROBE_H

#include <stddef.h>
#include <time.h>

#include "mqtt_link.h"

typedef enum {
    CONN_OK,                    /* TCP and TLS both fine: an MQTT-level refusal */
    CONN_NAME_NOT_RESOLVED,     /* the host name has no address here */
    CONN_REFUSED,               /* nothing listens on host:port */
    CONN_UNREACHABLE,           /* no route, or no answer within the timeout */
    CONN_BROKER_CERT_UNTRUSTED, /* the broker's chain does not lead to ca_file */
    CONN_HOSTNAME_MISMATCH,     /* the broker's certificate does not name the host */
    CONN_OUR_CERT_EXPIRED,      /* cert_file is past its not-after (or not yet valid) */
    CONN_OUR_CERT_REFUSED,      /* the broker sent an alert about our certificate */
    CONN_TLS_FAILED,            /* anything else in the handshake */
    CONN_LOCAL_ERROR,           /* our own files or memory */
} conn_cause;

/* Short stable name of a cause for logs and status files
 * ("hostname-mismatch"). */
const char *conn_cause_name(conn_cause c);

/* Probes cfg->host:cfg->port as described above, waiting at most timeout_ms
 * for each network step; now is the time our certificate is judged at.
 * Fills detail with one sentence naming the host, the files and what to do.
 * Blocks: never call it from a Paho callback. */
conn_cause conn_probe(const mqtt_link_config *cfg, int timeout_ms, time_t now, char *detail,
                      size_t detail_len);

#endif
