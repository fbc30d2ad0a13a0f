/* store_support.h - helpers for the store's tests and benchmark:
 * temporary directories, file searches and running the mvm binary. */
#ifndef MVM_TEST_STORE_SUPPORT_H
#define MVM_TEST_STORE_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Creates a new private directory under $TMPDIR (or /tmp) and writes its
 * path into buf. Returns 0, or -1 with errno set. */
int store_test_tmpdir(char *buf, size_t size);

/* Removes a directory tree and ignores errors. */
void store_test_rmtree(const char *path);

/* Joins dir and name with '/' into a static buffer and returns it. The
 * next call overwrites the buffer. */
const char *store_test_join(const char *dir, const char *name);

/* True when the file at `path` contains the bytes needle[0..len). A
 * missing file contains nothing. */
bool store_test_file_contains(const char *path, const void *needle,
                              size_t len);

/* Runs argv[0] with the arguments in argv (NULL-terminated), capturing
 * stdout and stderr into the malloc'd strings *out and *errout (either may
 * be NULL to discard). Returns the exit code, 128 + signal when killed,
 * or -1 when the program could not be started. */
int store_test_run(char *const argv[], char **out, char **errout);

#endif
