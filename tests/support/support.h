/* support.h - helpers shared by the unit tests. */
#ifndef MVM_TEST_SUPPORT_H
#define MVM_TEST_SUPPORT_H

#include <stddef.h>

/* Returns the path of a file under the source tree, in a static buffer. */
const char *mvm_test_path(const char *relative);

#endif
