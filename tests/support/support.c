/* support.c - helpers shared by the unit tests. */
#include <stdio.h>

#include "support.h"

const char *mvm_test_path(const char *relative)
{
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", MVM_SOURCE_DIR, relative);
  return path;
}
