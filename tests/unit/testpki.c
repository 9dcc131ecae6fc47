#include "testpki.h"

#include <stdio.h>
#include <stdlib.h>

#include "pki.h"

static int pki(const char *sub, const char *arg, const char *dir)
{
    char *argv[] = {(char *)sub, (char *)(arg ? arg : "--dir"), (char *)(arg ? "--dir" : dir),
                    (char *)(arg ? dir : NULL), NULL};
    return pki_cmd(arg ? 4 : 3, argv);
}

int testpki_new(char *root, size_t cap, const char *name, const char *const *devices)
{
    const char *tmp = getenv("TMPDIR");
    char dir[1024];

    snprintf(root, cap, "%s/smp-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(root)) {
        perror(root);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/pki", root);
    if (pki("init", NULL, dir) != 0)
        return -1;
    for (; *devices; devices++)
        if (pki("issue-device", *devices, dir) != 0)
            return -1;
    return 0;
}

char *testpki_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = calloc(1, (size_t)n + 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

void testpki_remove(const char *root)
{
    char cmd[1200];

    if (!root[0] || getenv("KEEP_WORK"))
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
}
