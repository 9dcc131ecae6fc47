/* conn_diag: names the cause of a failed broker connection, off Paho's
 * threads.
 *
 * Paho calls our connect-failure callback with its own lock held, so the
 * callback may only ask (conn_diag_request, which never blocks); a thread
 * owned by this module runs conn_probe and logs one error line per new cause
 * ("cannot reach the broker cause=hostname-mismatch ..."), repeating an
 * unchanged cause at most every REPEAT_S seconds. The latest cause is kept
 * for status output until the next successful connect clears it. */
#ifndef SMP_CONN_DIAG_H
#define SMP_CONN_DIAG_H

#include <stddef.h>

#include "mqtt_link.h"

typedef struct conn_diag conn_diag;

/* Starts the diagnosis thread. cfg (and the strings it points to) must
 * outlive the conn_diag. Returns NULL when out of memory or threads. */
conn_diag *conn_diag_start(const mqtt_link_config *cfg);

/* Asks for one probe; requests made while a probe runs fold into one.
 * Safe from any thread, never blocks. */
void conn_diag_request(conn_diag *d);

/* A connect succeeded: forget the last cause (the next failure is logged
 * even if it has the same cause). */
void conn_diag_connected(conn_diag *d);

/* Copies "cause: detail" of the latest failed probe into out, or "" when
 * none failed since the last connect. */
void conn_diag_last(conn_diag *d, char *out, size_t len);

/* Stops the thread (waits for a running probe) and frees. NULL is a no-op. */
void conn_diag_stop(conn_diag *d);

#endif
