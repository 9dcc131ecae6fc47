/* pki_int: what the pki_*.c files share behind `smpctl pki` (pki.h is the
 * public face). One concern per file:
 *
 *   pki_cli.c     subcommands, usage, arguments, dispatch
 *   pki.c         issuing keys and certificates (mbedTLS)
 *   pki_files.c   paths, atomic writes, the directory lock
 *   pki_san.c     host name / IP checks and the subjectAltName DER
 *   pki_index.c   DIR/index.txt: every certificate issued, its state
 *   pki_crl.c     DIR/crl.pem, signed by the CA (OpenSSL libcrypto)
 *   pki_renew.c   renew-device
 *   pki_revoke.c  revoke-device, revoke, crl
 *   pki_status.c  status
 *
 * Functions return 0 on success and -1 with err filled (naming the file or
 * option and what to do) unless said otherwise. */
#ifndef SMP_PKI_INT_H
#define SMP_PKI_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "ids.h"

#define PKI_CA_DAYS 3650
#define PKI_LEAF_DAYS 825
#define PKI_MAX_DAYS 36500
#define PKI_PEM_MAX 4096
#define PKI_DIR_MODE 0755
#define PKI_CRT_MODE 0644
#define PKI_KEY_MODE 0600
/* Room for a message naming two full paths. */
#define PKI_ERR_MAX (3 * PATH_MAX)
/* --host / --ip entries each; a broker with more names is not this fleet. */
#define PKI_SAN_MAX 16
#define PKI_HOST_MAX 253            /* RFC 1035 limit of a DNS name */
/* Serial as upper-case hex of its DER content octets (ours: 16 bytes). */
#define PKI_SERIAL_HEX_MAX 67       /* 20 octets (RFC 5280 limit) + slack, NUL */
#define PKI_CN_MAX 64               /* ub-common-name */
#define PKI_REL_MAX 256             /* a file name relative to DIR */
#define PKI_TIME_LEN 15             /* YYYYMMDDHHMMSSZ */

enum pki_kind {
    PKI_CA, PKI_BROKER, PKI_COLLECTOR, PKI_DEVICE, PKI_EXPORT, /* issue */
    PKI_RENEW_DEVICE, PKI_REVOKE_DEVICE, PKI_REVOKE, PKI_CRL, PKI_STATUS,
};

struct pki_req {
    enum pki_kind kind;
    const char *dir;
    const char *device_id;               /* issue-device, renew-device, revoke-device */
    long days;                           /* 0: the default of the kind */
    const char *hosts[PKI_SAN_MAX];      /* issue-broker --host */
    size_t nhosts;
    const char *ips[PKI_SAN_MAX];        /* issue-broker --ip */
    size_t nips;
    const char *name;                    /* issue-collector --name (NULL: smp-collector) */
    const char *db;                      /* renew-device --db */
    const char *serial;                  /* revoke --serial */
    const char *cert;                    /* revoke --cert */
    const char *reason;                  /* revoke*, --reason */
    long warn_days;                      /* status --warn-days */
};

/* ---- pki_files.c ---- */

int pki_tls_fail(char *err, size_t errlen, const char *what, int ret);
int pki_path(char *out, const char *dir, const char *name, const char *ext, char *err,
             size_t errlen);
int pki_make_dir(const char *path, char *err, size_t errlen);
int pki_refuse_existing(const char *path, char *err, size_t errlen);
int pki_need_existing(const char *path, const char *dir, char *err, size_t errlen);
/* A new file, all or nothing, never replacing one (link(2) of a temp file).
 * gid (gid_t)-1 keeps the caller's group. */
int pki_write_new_file(const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
                       char *err, size_t errlen);
/* Replaces path atomically (temp file + rename(2)): readers see the old or
 * the new content, never a mix. For the index and the CRL only. */
int pki_replace_file(const char *path, const void *data, size_t len, mode_t mode, char *err,
                     size_t errlen);
/* Reads a whole (small) file as a NUL-terminated malloc'ed string. Returns 1
 * (no err) when it does not exist. */
int pki_read_text(const char *path, size_t max, char **out, char *err, size_t errlen);
/* An exclusive lock on DIR/.lock for a read-modify-write of the index, so two
 * smpctl runs never lose each other's revocation. */
int pki_lock(const char *dir, int *fd, char *err, size_t errlen);
void pki_unlock(int fd);

/* ---- pki_san.c ---- */

int pki_check_host(const char *host, char *err, size_t errlen);
/* Parses an IPv4 or IPv6 literal into 4 or 16 network-order octets. */
int pki_parse_ip(const char *s, unsigned char out[16], size_t *len, char *err, size_t errlen);
/* Encodes GeneralNames (dNSName entries, then iPAddress entries) at the end
 * of buf; *der points at its start. Names must have been checked. */
int pki_san_der(const char *const *hosts, size_t nhosts, const char *const *ips, size_t nips,
                unsigned char *buf, size_t cap, unsigned char **der, size_t *len, char *err,
                size_t errlen);

/* ---- pki.c: issuing ---- */

struct pki_made {
    char crt_pem[PKI_PEM_MAX];
    char key_pem[PKI_PEM_MAX];  /* wiped by the caller */
};

/* Makes a key and a certificate for req (kind PKI_DEVICE for renew) signed
 * by DIR's CA, checked against it; nothing is written. */
int pki_make_cert(const struct pki_req *req, struct pki_made *out, char *err, size_t errlen);
/* Writes a key file with the mode and group its kind needs. */
void pki_key_access(enum pki_kind kind, mode_t *mode, gid_t *gid);
/* init, issue-broker, issue-collector, issue-device: a new pair in DIR,
 * recorded in the index (init: also the empty CRL). */
int pki_issue(const struct pki_req *req, char *err, size_t errlen);
/* issue-export: the audit export key pair (no certificate). */
int pki_issue_export(const struct pki_req *req, char *err, size_t errlen);

/* ---- pki_index.c: certificates and the index ---- */

struct pki_certinfo {
    char serial[PKI_SERIAL_HEX_MAX];
    char cn[PKI_CN_MAX + 1];            /* '?' for unprintable bytes */
    char not_after[PKI_TIME_LEN + 1];   /* YYYYMMDDHHMMSSZ (UTC) */
    time_t not_after_t;
    bool is_ca;
};

int pki_certinfo_pem(const char *pem, struct pki_certinfo *ci, char *err, size_t errlen);
int pki_certinfo_file(const char *path, struct pki_certinfo *ci, char *err, size_t errlen);

struct pki_entry {
    char status;                          /* 'V' valid, 'R' revoked */
    char not_after[PKI_TIME_LEN + 1];
    char revoked_at[PKI_TIME_LEN + 1];    /* "" unless revoked */
    char reason[32];                      /* "" or an RFC 5280 reason name */
    char serial[PKI_SERIAL_HEX_MAX];
    char file[PKI_REL_MAX];               /* relative to DIR; "-" when unknown */
    char cn[PKI_CN_MAX + 1];
};

struct pki_index {
    struct pki_entry *e;
    size_t n, cap;
};

/* Missing index.txt is an empty index (PKI dirs made before it existed). */
int pki_index_load(const char *dir, struct pki_index *idx, char *err, size_t errlen);
int pki_index_save(const char *dir, const struct pki_index *idx, char *err, size_t errlen);
void pki_index_free(struct pki_index *idx);
struct pki_entry *pki_index_find(const struct pki_index *idx, const char *serial);
/* Adds ci as valid (or updates the file name of a known serial). */
int pki_index_put(struct pki_index *idx, const struct pki_certinfo *ci, const char *file,
                  char *err, size_t errlen);
/* Adds every certificate file of DIR (and DIR/devices) missing from idx, so
 * a PKI made before the index existed can still be revoked and listed. */
int pki_index_adopt(const char *dir, struct pki_index *idx, char *err, size_t errlen);
/* Locks DIR, loads, adopts, puts ci as file, saves, unlocks. */
int pki_index_record(const char *dir, const struct pki_certinfo *ci, const char *file,
                     char *err, size_t errlen);
/* A time as YYYYMMDDHHMMSSZ; and back (-1 when malformed). */
void pki_time_str(time_t t, char out[PKI_TIME_LEN + 1]);
time_t pki_time_parse(const char *s);
/* The certificate files of DIR: "ca.crt", "devices/x.crt", ... relative,
 * sorted; *out malloc'ed array of PKI_REL_MAX strings. */
int pki_list_cert_files(const char *dir, char (**out)[PKI_REL_MAX], size_t *n, char *err,
                        size_t errlen);
/* True for the archived pair of a renewal: a '.' in the stem
 * (devices/<id>.<serial>.crt); ids and our own names never have one. */
bool pki_is_archived(const char *rel);

/* ---- pki_crl.c ---- */

/* Writes DIR/crl.pem listing every revoked entry of idx, signed by DIR's CA,
 * thisUpdate now and nextUpdate the CA's notAfter. */
int pki_crl_write(const char *dir, const struct pki_index *idx, char *err, size_t errlen);

/* ---- subcommands ---- */

int pki_renew_device(const struct pki_req *req, char *err, size_t errlen);
int pki_revoke_cmd(const struct pki_req *req, char *err, size_t errlen);
int pki_crl_cmd(const struct pki_req *req, char *err, size_t errlen);

#endif
