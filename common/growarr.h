/* growarr: room for one more element in a malloc'ed array that doubles as
 * it fills (report and listing readers that keep every row). */
#ifndef SMP_GROWARR_H
#define SMP_GROWARR_H

#include <stddef.h>

/* Makes room for element n of size elem in *arr (*cap allocated): doubles
 * *cap (16 at first) when n reaches it. 0, or -1 when out of memory (*arr
 * and *cap are then unchanged). */
int growarr_reserve(void **arr, size_t *cap, size_t n, size_t elem);

#endif
