#include "certfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static char *read_pem(const char *cmd, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "smpctl %s: --cert %s: cannot open: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    buf = malloc(REGISTRY_CERT_MAX + 2);
    if (buf == NULL) {
        fprintf(stderr, "smpctl %s: --cert %s: out of memory\n", cmd, path);
        goto fail;
    }
    n = fread(buf, 1, REGISTRY_CERT_MAX + 1, f);
    if (ferror(f)) {
        fprintf(stderr, "smpctl %s: --cert %s: read error\n", cmd, path);
        goto fail;
    }
    if (n > REGISTRY_CERT_MAX) {
        fprintf(stderr, "smpctl %s: --cert %s: larger than %d bytes; give the device "
                "certificate alone\n", cmd, path, REGISTRY_CERT_MAX);
        goto fail;
    }
    /* A NUL inside means binary (DER) input; PEM is text. */
    if (memchr(buf, '\0', n) != NULL) {
        fprintf(stderr, "smpctl %s: --cert %s: binary file; give the PEM form "
                "('openssl x509 -inform der -in %s')\n", cmd, path, path);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;

fail:
    free(buf);
    fclose(f);
    return NULL;
}

char *certfile_read(const char *cmd, const char *path, const char *device_id)
{
    char *pem = read_pem(cmd, path), err[512];

    if (pem && registry_check_cert(pem, device_id, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl %s: --cert %s: %s\n", cmd, path, err);
        free(pem);
        return NULL;
    }
    return pem;
}
