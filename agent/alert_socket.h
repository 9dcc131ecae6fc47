/* alert_socket: the alerts_socket (docs/agent.md, "The alerts socket"),
 * where local software at the chair reads the device's alerts: one JSON
 * line each (alert_line.h). A client that connects first gets the lines
 * of every open alert (replay, made by the caller), then every change as
 * it happens. Clients only read; what they write is discarded.
 *
 * Nothing here may stall the agent's loop: sockets are non-blocking, each
 * client has a bounded buffer of unsent lines, and a client that lets it
 * fill (does not read) is disconnected — it reconnects and gets the
 * replay. */
#ifndef SMP_ALERT_SOCKET_H
#define SMP_ALERT_SOCKET_H

#include <poll.h>
#include <stddef.h>

#define ALERT_CLIENTS     16
#define ALERT_CLIENT_BUF  (256u * 1024)   /* unsent bytes per client */

typedef struct alert_socket alert_socket;

/* Fills the replay of a new client with alert_socket_send(s, client, ...). */
typedef void (*alert_socket_replay_fn)(void *ctx, alert_socket *s, int client);

int alert_socket_open(const char *path, alert_socket **out, char *err, size_t errlen);
void alert_socket_close(alert_socket *s);

/* Appends the listening socket and every client to fds; returns the count. */
size_t alert_socket_pollfds(alert_socket *s, struct pollfd *fds, size_t cap);
/* Accepts clients (replaying to each), drops those that hung up, writes
 * what is pending. */
void alert_socket_service(alert_socket *s, const struct pollfd *fds, size_t n,
                          alert_socket_replay_fn replay, void *ctx);
/* Queues one line for one client / every client and writes at once what
 * the socket takes. */
void alert_socket_send(alert_socket *s, int client, const char *line, size_t len);
void alert_socket_broadcast(alert_socket *s, const char *line, size_t len);
/* Connected clients. */
int alert_socket_clients(const alert_socket *s);

#endif
