/* sharedfx.h -- locating and reading the shared fixtures from unit tests. */
#ifndef CI_TEST_SHAREDFX_H
#define CI_TEST_SHAREDFX_H

#include <stddef.h>

const char *sharedfx_dir(void);              /* $SHARED, else ../shared */
char *sharedfx_read(const char *rel, size_t *len);  /* whole file, NUL-terminated, or NULL */

#endif
