/* diag.c - the list of assembler and verifier messages, and program
 * helpers shared by the passes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "vm/program.h"

/* Bytes of a long source line shown past the column of a message. */
#define SOURCE_CONTEXT 60

struct mvm_diags {
  mvm_diag *items;
  size_t len;
  size_t cap;
  size_t errors;
};

int mvm_diags_new(mvm_diags **out)
{
  mvm_diags *d = calloc(1, sizeof *d);
  if (d == NULL)
    return MVM_ENOMEM;
  *out = d;
  return MVM_OK;
}

void mvm_diags_free(mvm_diags *diags)
{
  if (diags == NULL)
    return;
  for (size_t i = 0; i < diags->len; i++) {
    free((char *)diags->items[i].file);
    free((char *)diags->items[i].message);
    free((char *)diags->items[i].source);
  }
  free(diags->items);
  free(diags);
}

size_t mvm_diags_count(const mvm_diags *diags)
{
  return diags == NULL ? 0 : diags->len;
}

size_t mvm_diags_errors(const mvm_diags *diags)
{
  return diags == NULL ? 0 : diags->errors;
}

const mvm_diag *mvm_diags_get(const mvm_diags *diags, size_t i)
{
  return i < mvm_diags_count(diags) ? &diags->items[i] : NULL;
}

const char *mvm_program_source_line(const mvm_program *p, unsigned line,
                                    size_t *len)
{
  const char *s = p->source;
  const char *end = p->source + p->source_len;

  if (line == 0 || s == NULL)
    return NULL;
  for (unsigned n = 1; n < line; n++) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (nl == NULL)
      return NULL;
    s = nl + 1;
  }
  const char *nl = memchr(s, '\n', (size_t)(end - s));
  size_t n = (size_t)((nl ? nl : end) - s);
  if (n > 0 && s[n - 1] == '\r')
    n--;
  *len = n;
  return s;
}

int mvm_diags_add(mvm_diags *diags, const mvm_program *p, int severity,
                  unsigned line, unsigned col, const char *fmt, ...)
{
  if (diags == NULL)
    return MVM_OK;

  if (diags->len == diags->cap) {
    size_t cap = diags->cap ? diags->cap * 2 : 16;
    mvm_diag *items = realloc(diags->items, cap * sizeof *items);
    if (items == NULL)
      return MVM_ENOMEM;
    diags->items = items;
    diags->cap = cap;
  }

  mvm_diag d;
  memset(&d, 0, sizeof d);
  d.severity = (mvm_diag_severity)severity;
  d.line = line;
  d.col = col;
  d.file = strdup(p->file ? p->file : "<input>");

  va_list ap;
  va_start(ap, fmt);
  if (vasprintf((char **)&d.message, fmt, ap) < 0)
    d.message = NULL;
  va_end(ap);

  /* A long line is shown only up to the column of the message plus some
   * context, so one huge literal does not flood the terminal. */
  size_t len = 0;
  const char *src = mvm_program_source_line(p, line, &len);
  size_t keep = col + SOURCE_CONTEXT;
  if (src != NULL && len > keep && len > SOURCE_CONTEXT * 2) {
    if (asprintf((char **)&d.source, "%.*s...", (int)keep, src) < 0)
      d.source = NULL;
  } else if (src != NULL) {
    d.source = strndup(src, len);
  }

  if (d.file == NULL || d.message == NULL || (src != NULL && !d.source)) {
    free((char *)d.file);
    free((char *)d.message);
    free((char *)d.source);
    return MVM_ENOMEM;
  }
  diags->items[diags->len++] = d;
  if (severity == MVM_DIAG_ERROR)
    diags->errors++;
  return MVM_OK;
}

/* Writes the caret line: tabs in the source are kept so the caret lines
 * up with the column in a terminal. */
static int format_caret(mvm_buf *b, const mvm_diag *d)
{
  int rc = mvm_buf_printf(b, "    %s\n    ", d->source);
  size_t n = strlen(d->source);

  for (unsigned i = 1; rc == MVM_OK && i < d->col; i++) {
    char c = (i - 1 < n && d->source[i - 1] == '\t') ? '\t' : ' ';
    rc = mvm_buf_append(b, &c, 1);
  }
  if (rc == MVM_OK)
    rc = mvm_buf_append_str(b, "^\n");
  return rc;
}

char *mvm_diags_format(const mvm_diags *diags)
{
  mvm_buf b;
  int rc = MVM_OK;

  mvm_buf_init(&b, 0);
  for (size_t i = 0; rc == MVM_OK && i < mvm_diags_count(diags); i++) {
    const mvm_diag *d = &diags->items[i];
    const char *sev = d->severity == MVM_DIAG_ERROR ? "error" : "warning";

    if (d->line == 0)
      rc = mvm_buf_printf(&b, "%s: %s: %s\n", d->file, sev, d->message);
    else if (d->col == 0)
      rc = mvm_buf_printf(&b, "%s:%u: %s: %s\n", d->file, d->line, sev,
                          d->message);
    else
      rc = mvm_buf_printf(&b, "%s:%u:%u: %s: %s\n", d->file, d->line,
                          d->col, sev, d->message);
    if (rc == MVM_OK && d->source != NULL && d->col > 0)
      rc = format_caret(&b, d);
  }
  if (rc) {
    mvm_buf_free(&b);
    return NULL;
  }
  return mvm_buf_steal(&b);
}

int mvm_decls_find(const mvm_decls *d, const char *name)
{
  for (size_t i = 0; i < d->len; i++) {
    if (strcmp(d->items[i].name, name) == 0)
      return (int)i;
  }
  return -1;
}

int mvm_decls_add(mvm_decls *d, const char *name, size_t len, uint32_t line,
                  uint32_t col, uint32_t index)
{
  if (d->len == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 8;
    mvm_decl *items = realloc(d->items, cap * sizeof *items);
    if (items == NULL)
      return MVM_ENOMEM;
    d->items = items;
    d->cap = cap;
  }

  char *copy = strndup(name, len);
  if (copy == NULL)
    return MVM_ENOMEM;
  d->items[d->len++] = (mvm_decl){copy, line, col, index};
  return MVM_OK;
}

void mvm_decls_free(mvm_decls *d)
{
  for (size_t i = 0; i < d->len; i++)
    free(d->items[i].name);
  free(d->items);
  memset(d, 0, sizeof *d);
}

bool mvm_pattern_match(const char *pattern, const char *name)
{
  /* Iterative glob with one backtrack point: linear in practice and never
   * recursive, whatever the pattern. */
  const char *star = NULL;
  const char *resume = NULL;

  while (*name != '\0') {
    if (*pattern == '*') {
      star = pattern++;
      resume = name;
    } else if (*pattern == *name) {
      pattern++;
      name++;
    } else if (star != NULL) {
      pattern = star + 1;
      name = ++resume;
    } else {
      return false;
    }
  }
  while (*pattern == '*')
    pattern++;
  return *pattern == '\0';
}
