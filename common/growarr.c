#include "growarr.h"

#include <stdlib.h>

int growarr_reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    if ((p = realloc(*arr, ncap * elem)) == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}
