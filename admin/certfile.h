/* certfile: a device certificate file given to smpctl (--cert FILE). */
#ifndef SMP_CERTFILE_H
#define SMP_CERTFILE_H

/* Reads a whole PEM file (at most REGISTRY_CERT_MAX bytes, text) as a
 * NUL-terminated string the caller frees, and checks that it is one
 * certificate whose CN is device_id (registry_check_cert); NULL after
 * printing "smpctl <cmd>: --cert <path>: <why and what to do>" on stderr. */
char *certfile_read(const char *cmd, const char *path, const char *device_id);

#endif
