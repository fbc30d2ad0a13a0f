/* schema_regex.c - rewrites a JSON Schema pattern (ECMA-262 syntax with the
 * "u" flag) into PCRE2 syntax with the same meaning where the two differ.
 *
 * PCRE2 10.42 in UTF mode without UCP already matches ECMA-262 for \d, \w
 * and \b (ASCII only), and PCRE2_DOLLAR_ENDONLY makes $ match only at the
 * end. The rewrite covers the rest:
 *  - \s, and \S outside a class, include the Unicode spaces ECMA-262
 *    counts (U+00A0, U+FEFF, U+2028, U+2029 and the Zs category), not only
 *    ASCII white space;
 *  - . excludes the four ECMA-262 line terminators, not only \n;
 *  - \p{Letter}, \p{General_Category=Lu} and \p{gc=Lu} become the short
 *    category names, the only form PCRE2 10.42 accepts;
 *  - \uXXXX, a \uD8xx\uDCxx surrogate pair and \u{X...} become \x{...};
 *  - [] (matches nothing) and [^] (matches anything) keep their ECMA-262
 *    meaning, where PCRE2 would read the ] as a literal. */
#include <string.h>

#include "value/schema_internal.h"

/* ECMA-262 WhiteSpace and LineTerminator, as PCRE2 class members. */
#define ECMA_SPACE_MEMBERS "\\s\\x{a0}\\x{feff}\\x{2028}\\x{2029}\\p{Zs}"

static const struct {
  const char *name;
  const char *abbreviation;
} categories[] = {
    {"Cased_Letter", "LC"},
    {"Close_Punctuation", "Pe"},
    {"Combining_Mark", "M"},
    {"Connector_Punctuation", "Pc"},
    {"Control", "Cc"},
    {"Currency_Symbol", "Sc"},
    {"Dash_Punctuation", "Pd"},
    {"Decimal_Number", "Nd"},
    {"Enclosing_Mark", "Me"},
    {"Final_Punctuation", "Pf"},
    {"Format", "Cf"},
    {"Initial_Punctuation", "Pi"},
    {"Letter", "L"},
    {"Letter_Number", "Nl"},
    {"Line_Separator", "Zl"},
    {"Lowercase_Letter", "Ll"},
    {"Mark", "M"},
    {"Math_Symbol", "Sm"},
    {"Modifier_Letter", "Lm"},
    {"Modifier_Symbol", "Sk"},
    {"Nonspacing_Mark", "Mn"},
    {"Number", "N"},
    {"Open_Punctuation", "Ps"},
    {"Other", "C"},
    {"Other_Letter", "Lo"},
    {"Other_Number", "No"},
    {"Other_Punctuation", "Po"},
    {"Other_Symbol", "So"},
    {"Paragraph_Separator", "Zp"},
    {"Private_Use", "Co"},
    {"Punctuation", "P"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Spacing_Mark", "Mc"},
    {"Surrogate", "Cs"},
    {"Symbol", "S"},
    {"Titlecase_Letter", "Lt"},
    {"Unassigned", "Cn"},
    {"Uppercase_Letter", "Lu"},
    {"cntrl", "Cc"},
    {"digit", "Nd"},
    {"punct", "P"},
};

static bool has_prefix(const char *text, size_t len, const char *prefix)
{
  size_t n = strlen(prefix);
  return len >= n && memcmp(text, prefix, n) == 0;
}

/* Appends the PCRE2 form of the property name[0..len) of \p{...}. */
static int append_property(mvm_buf *out, const char *name, size_t len)
{
  if (has_prefix(name, len, "General_Category=")) {
    name += strlen("General_Category=");
    len -= strlen("General_Category=");
  } else if (has_prefix(name, len, "gc=")) {
    name += 3;
    len -= 3;
  }
  for (size_t i = 0; i < sizeof categories / sizeof categories[0]; i++) {
    if (strlen(categories[i].name) == len &&
        memcmp(categories[i].name, name, len) == 0)
      return mvm_buf_append_str(out, categories[i].abbreviation);
  }
  /* A short category name after "gc=" passes as is, and so do scripts and
   * binary properties, which PCRE2 reads the ECMA-262 way. */
  return mvm_buf_append(out, name, len);
}

static int hex_digit(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Reads four hex digits at text[0..4) into *value. */
static bool read_hex4(const char *text, size_t avail, unsigned *value)
{
  unsigned v = 0;

  if (avail < 4)
    return false;
  for (size_t i = 0; i < 4; i++) {
    int d = hex_digit(text[i]);
    if (d < 0)
      return false;
    v = v * 16 + (unsigned)d;
  }
  *value = v;
  return true;
}

/* Rewrites the escape "\u..." at text[i..len) (text[i] is the backslash).
 * Returns the number of bytes consumed, or 0 to copy the escape as is. */
static size_t append_unicode_escape(mvm_buf *out, const char *text,
                                    size_t len, size_t i, int *rc)
{
  unsigned high;
  unsigned low;

  if (i + 2 < len && text[i + 2] == '{') {
    const char *end = memchr(text + i + 3, '}', len - i - 3);
    if (end == NULL)
      return 0;
    size_t n = (size_t)(end - (text + i + 3));
    *rc = mvm_buf_append(out, "\\x{", 3);
    if (*rc == MVM_OK)
      *rc = mvm_buf_append(out, text + i + 3, n);
    if (*rc == MVM_OK)
      *rc = mvm_buf_append(out, "}", 1);
    return n + 4;
  }
  if (!read_hex4(text + i + 2, len - i - 2, &high))
    return 0;
  if (high >= 0xD800 && high <= 0xDBFF && i + 12 <= len &&
      text[i + 6] == '\\' && text[i + 7] == 'u' &&
      read_hex4(text + i + 8, len - i - 8, &low) && low >= 0xDC00 &&
      low <= 0xDFFF) {
    unsigned cp = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    *rc = mvm_buf_printf(out, "\\x{%x}", cp);
    return 12;
  }
  *rc = mvm_buf_printf(out, "\\x{%x}", high);
  return 6;
}

/* Rewrites the escape at text[i..len) (text[i] is the backslash) and
 * returns the number of bytes consumed. */
static size_t append_escape(mvm_buf *out, const char *text, size_t len,
                            size_t i, bool in_class, int *rc)
{
  char next = i + 1 < len ? text[i + 1] : '\0';

  if ((next == 'p' || next == 'P') && i + 2 < len && text[i + 2] == '{') {
    const char *end = memchr(text + i + 3, '}', len - i - 3);
    if (end != NULL) {
      size_t n = (size_t)(end - (text + i + 3));
      *rc = mvm_buf_append(out, text + i, 3);
      if (*rc == MVM_OK)
        *rc = append_property(out, text + i + 3, n);
      if (*rc == MVM_OK)
        *rc = mvm_buf_append(out, "}", 1);
      return n + 4;
    }
  }
  if (next == 's') {
    *rc = mvm_buf_append_str(out, in_class ? ECMA_SPACE_MEMBERS
                                           : "[" ECMA_SPACE_MEMBERS "]");
    return 2;
  }
  /* NOTE: \S inside a class keeps PCRE2's meaning (only ASCII white space
   * excluded), because a PCRE2 class cannot subtract a set. */
  if (next == 'S' && !in_class) {
    *rc = mvm_buf_append_str(out, "[^" ECMA_SPACE_MEMBERS "]");
    return 2;
  }
  if (next == 'u') {
    size_t used = append_unicode_escape(out, text, len, i, rc);
    if (used > 0)
      return used;
  }
  size_t n = i + 1 < len ? 2 : 1;
  *rc = mvm_buf_append(out, text + i, n);
  return n;
}

int mvm_schema_regex_translate(const char *text, size_t len, mvm_buf *out)
{
  bool in_class = false;
  int rc = MVM_OK;
  size_t i = 0;

  while (rc == MVM_OK && i < len) {
    char c = text[i];

    if (c == '\\') {
      i += append_escape(out, text, len, i, in_class, &rc);
    } else if (in_class) {
      if (c == ']')
        in_class = false;
      rc = mvm_buf_append(out, &c, 1);
      i++;
    } else if (c == '[' && i + 1 < len && text[i + 1] == ']') {
      rc = mvm_buf_append_str(out, "(?!)");
      i += 2;
    } else if (c == '[' && i + 2 < len && text[i + 1] == '^' &&
               text[i + 2] == ']') {
      rc = mvm_buf_append_str(out, "[\\s\\S]");
      i += 3;
    } else if (c == '[') {
      /* [] and [^] were rewritten above, so no ] follows the opening
       * here, and PCRE2 reads the rest of the class as ECMA-262 does. */
      in_class = true;
      size_t n = i + 1 < len && text[i + 1] == '^' ? 2 : 1;
      rc = mvm_buf_append(out, text + i, n);
      i += n;
    } else if (c == '.') {
      rc = mvm_buf_append_str(out, "[^\\n\\r\\x{2028}\\x{2029}]");
      i++;
    } else {
      rc = mvm_buf_append(out, &c, 1);
      i++;
    }
  }
  return rc;
}
