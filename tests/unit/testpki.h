/* testpki: a throwaway PKI for the unit tests that need real device
 * certificates (signatures, checkpoints): a temp directory holding a CA and
 * the devices' pairs, made by smpctl's own pki code (pki_cmd, in process),
 * and the reading of a PEM back into memory. */
#ifndef SMP_TESTPKI_H
#define SMP_TESTPKI_H

#include <stddef.h>

/* Makes root (cap bytes) a new directory $TMPDIR/smp-<name>-XXXXXX with a
 * CA in root/pki and a pair for each id of devices (NULL-terminated):
 * root/pki/devices/<id>.crt and .key. 0, or -1 (said on stderr). */
int testpki_new(char *root, size_t cap, const char *name, const char *const *devices);

/* The whole file at path, NUL-terminated (the caller frees it); NULL when
 * it cannot be read or is empty. */
char *testpki_slurp(const char *path);

/* Removes root and everything in it, unless KEEP_WORK is set (to look at
 * it after a failure). */
void testpki_remove(const char *root);

#endif
