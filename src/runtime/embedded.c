/* embedded.c - lookup in the table of files built into the binary. */
#include <string.h>

#include "runtime/embedded.h"

const mvm_embedded_file *mvm_embedded_find(const char *path)
{
  for (const mvm_embedded_file *f = mvm_embedded_files; f->path != NULL;
       f++) {
    if (strcmp(f->path, path) == 0)
      return f;
  }
  return NULL;
}
