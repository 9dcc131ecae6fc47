/* termtext: device-supplied bytes made safe to print on an operator's
 * terminal. A quarantined payload or reason may hold anything a device sent:
 * escape sequences (C0, DEL, C1, 8-bit CSI) that move the cursor, retitle
 * the window or hide text, and invalid UTF-8. Printable ASCII is kept;
 * every other byte, and the backslash, is written as \xNN, so the output is
 * plain ASCII and can be pasted back as evidence. */
#ifndef SMP_TERMTEXT_H
#define SMP_TERMTEXT_H

#include <stddef.h>
#include <stdio.h>

/* Writes len bytes of s to out, escaped as above. */
void termtext_write(FILE *out, const void *s, size_t len);

/* Escapes s into out (at most cap bytes, always NUL-terminated, cut only
 * between escapes). Returns out. */
char *termtext_escape(char *out, size_t cap, const char *s);

#endif
