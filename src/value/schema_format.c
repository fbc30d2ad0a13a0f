/* schema_format.c - checks for the "format" values mvm asserts: date-time,
 * date, time (RFC 3339), email (RFC 5321 mailbox, without comments),
 * hostname (RFC 1123), ipv4, ipv6, uri (RFC 3986 absolute URI) and uuid
 * (RFC 4122 text form). Every check is on bytes: a non-ASCII byte fails
 * all of them, since none of these formats allows one. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "value/schema_internal.h"

static bool is_digit(char ch)
{
  return ch >= '0' && ch <= '9';
}

/* Checks whether ch is one of the bytes of set. Unlike a bare strchr, a
 * NUL byte (which a JSON string may contain) is never in the set. */
static bool in_set(const char *set, char ch)
{
  return ch != '\0' && strchr(set, ch) != NULL;
}

static bool is_alpha(char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_hex(char ch)
{
  return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Reads exactly n digits at text[*at] into *value. */
static bool read_digits(const char *text, size_t len, size_t *at, int n,
                        int *value)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (*at >= len || !is_digit(text[*at]))
      return false;
    v = v * 10 + (text[*at] - '0');
    (*at)++;
  }
  *value = v;
  return true;
}

static bool expect(const char *text, size_t len, size_t *at, char ch)
{
  if (*at >= len || text[*at] != ch)
    return false;
  (*at)++;
  return true;
}

static int days_in_month(int year, int month)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && leap)
    return 29;
  return days[month - 1];
}

/* full-date = YYYY "-" MM "-" DD */
static bool parse_date(const char *text, size_t len, size_t *at)
{
  int year, month, day;

  if (!read_digits(text, len, at, 4, &year) || !expect(text, len, at, '-') ||
      !read_digits(text, len, at, 2, &month) || !expect(text, len, at, '-') ||
      !read_digits(text, len, at, 2, &day))
    return false;
  if (month < 1 || month > 12)
    return false;
  return day >= 1 && day <= days_in_month(year, month);
}

/* full-time = HH ":" MM ":" SS [ "." 1*DIGIT ] ( "Z" / ("+" / "-") HH ":"
 * MM ). A leap second (SS = 60) is valid only at 23:59 UTC. */
static bool parse_time(const char *text, size_t len, size_t *at)
{
  int hour, minute, second, off_hour = 0, off_minute = 0, sign = 0;

  if (!read_digits(text, len, at, 2, &hour) || !expect(text, len, at, ':') ||
      !read_digits(text, len, at, 2, &minute) || !expect(text, len, at, ':') ||
      !read_digits(text, len, at, 2, &second))
    return false;
  if (hour > 23 || minute > 59 || second > 60)
    return false;
  if (*at < len && text[*at] == '.') {
    (*at)++;
    size_t start = *at;
    while (*at < len && is_digit(text[*at]))
      (*at)++;
    if (*at == start)
      return false;
  }
  if (*at >= len)
    return false;
  if (text[*at] == 'Z' || text[*at] == 'z') {
    (*at)++;
  } else if (text[*at] == '+' || text[*at] == '-') {
    sign = text[*at] == '+' ? 1 : -1;
    (*at)++;
    if (!read_digits(text, len, at, 2, &off_hour) ||
        !expect(text, len, at, ':') ||
        !read_digits(text, len, at, 2, &off_minute))
      return false;
    if (off_hour > 23 || off_minute > 59)
      return false;
  } else {
    return false;
  }
  if (second == 60) {
    int utc = hour * 60 + minute - sign * (off_hour * 60 + off_minute);
    utc = ((utc % 1440) + 1440) % 1440;
    return utc == 23 * 60 + 59;
  }
  return true;
}

static bool check_date(const char *text, size_t len)
{
  size_t at = 0;
  return parse_date(text, len, &at) && at == len;
}

static bool check_time(const char *text, size_t len)
{
  size_t at = 0;
  return parse_time(text, len, &at) && at == len;
}

static bool check_date_time(const char *text, size_t len)
{
  size_t at = 0;
  if (!parse_date(text, len, &at))
    return false;
  if (at >= len || (text[at] != 'T' && text[at] != 't'))
    return false;
  at++;
  return parse_time(text, len, &at) && at == len;
}

static bool check_ipv4(const char *text, size_t len)
{
  size_t at = 0;

  for (int part = 0; part < 4; part++) {
    if (part > 0 && !expect(text, len, &at, '.'))
      return false;
    size_t start = at;
    int value = 0;
    while (at < len && is_digit(text[at]) && at - start < 3)
      value = value * 10 + (text[at++] - '0');
    /* A leading zero could be read as octal by some parsers. */
    if (at == start || value > 255 || (text[start] == '0' && at - start > 1))
      return false;
  }
  return at == len;
}

static bool check_ipv6(const char *text, size_t len)
{
  char copy[INET6_ADDRSTRLEN + 1];
  unsigned char addr[16];

  if (len >= sizeof copy || memchr(text, '\0', len) != NULL)
    return false;
  memcpy(copy, text, len);
  copy[len] = '\0';
  return inet_pton(AF_INET6, copy, addr) == 1;
}

/* RFC 1123 host name: dot-separated labels of 1 to 63 letters, digits and
 * hyphens, not starting or ending with a hyphen, 253 bytes at most. */
static bool check_hostname(const char *text, size_t len)
{
  if (len == 0 || len > 253)
    return false;

  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && text[i] != '.') {
      if (!is_alpha(text[i]) && !is_digit(text[i]) && text[i] != '-')
        return false;
      continue;
    }
    size_t n = i - start;
    if (n == 0 || n > 63 || text[start] == '-' || text[i - 1] == '-')
      return false;
    start = i + 1;
  }
  return true;
}

static bool check_uuid(const char *text, size_t len)
{
  if (len != 36)
    return false;
  for (size_t i = 0; i < len; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !is_hex(text[i]))
      return false;
  }
  return true;
}

static bool is_atext(char ch)
{
  if (ch == '\0')
    return false;
  return is_alpha(ch) || is_digit(ch) || in_set("!#$%&'*+-/=?^_`{|}~", ch);
}

static bool check_email_local(const char *text, size_t len)
{
  if (len == 0 || len > 64)
    return false;
  if (text[0] == '"') {
    if (len < 2 || text[len - 1] != '"')
      return false;
    for (size_t i = 1; i + 1 < len; i++) {
      unsigned char ch = (unsigned char)text[i];
      if (ch == '\\' && i + 2 < len)
        i++;
      else if (ch == '"' || ch == '\\' || ch < 0x20 || ch > 0x7e)
        return false;
    }
    return true;
  }
  if (text[0] == '.' || text[len - 1] == '.')
    return false;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '.' ? text[i + 1] == '.' : !is_atext(text[i]))
      return false;
  }
  return true;
}

/* RFC 5321 mailbox: local-part "@" (host name / address literal). */
static bool check_email(const char *text, size_t len)
{
  const char *at = NULL;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '@')
      at = text + i;
  }
  if (at == NULL || !check_email_local(text, (size_t)(at - text)))
    return false;

  const char *domain = at + 1;
  size_t n = len - (size_t)(domain - text);
  if (n >= 2 && domain[0] == '[' && domain[n - 1] == ']') {
    /* The tag is case-insensitive, as every ABNF string literal is. */
    if (n > 7 && strncasecmp(domain + 1, "IPv6:", 5) == 0)
      return check_ipv6(domain + 6, n - 7);
    return check_ipv4(domain + 1, n - 2);
  }
  return check_hostname(domain, n);
}

static bool is_uri_char(char ch)
{
  return is_alpha(ch) || is_digit(ch) || in_set("-._~!$&'()*+,;=:@/?", ch);
}

/* Checks a run of URI characters with percent escapes, stopping at any
 * byte in `stop`. Returns the end of the run, or NULL on a bad byte. */
static const char *scan_uri_part(const char *p, const char *end,
                                 const char *stop)
{
  while (p < end && !in_set(stop, *p)) {
    if (*p == '%') {
      if (end - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
        return NULL;
      p += 3;
    } else if (is_uri_char(*p) && *p != '\0') {
      p++;
    } else {
      return NULL;
    }
  }
  return p;
}

/* authority = [ userinfo "@" ] host [ ":" port ] */
static bool check_authority(const char *p, const char *end)
{
  const char *at = NULL;
  for (const char *q = p; q < end; q++) {
    if (*q == '@')
      at = q;
  }
  if (at != NULL) {
    const char *user = scan_uri_part(p, at, "@/?#[]");
    if (user != at)
      return false;
    p = at + 1;
  }
  if (p < end && *p == '[') {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (close == NULL || !check_ipv6(p + 1, (size_t)(close - p - 1)))
      return false;
    p = close + 1;
  } else {
    p = scan_uri_part(p, end, ":@/?#[]");
    if (p == NULL)
      return false;
  }
  if (p < end && *p == ':') {
    for (p++; p < end; p++) {
      if (!is_digit(*p))
        return false;
    }
  }
  return p == end;
}

/* RFC 3986 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ]. */
static bool check_uri(const char *text, size_t len)
{
  const char *end = text + len;
  const char *p = text;

  if (len == 0 || !is_alpha(*p))
    return false;
  while (p < end && (is_alpha(*p) || is_digit(*p) || in_set("+-.", *p)) &&
         *p != '\0')
    p++;
  if (p == end || *p != ':')
    return false;
  p++;

  if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
    p += 2;
    const char *host_end = p;
    while (host_end < end && !in_set("/?#", *host_end))
      host_end++;
    if (!check_authority(p, host_end))
      return false;
    p = host_end;
  }
  p = scan_uri_part(p, end, "#[]");
  if (p == NULL)
    return false;
  if (p < end && *p == '#')
    p = scan_uri_part(p + 1, end, "#[]");
  return p == end;
}

bool mvm_schema_format_check(const char *format, const char *text,
                             size_t len)
{
  static const struct {
    const char *name;
    bool (*check)(const char *text, size_t len);
  } formats[] = {
      {"date-time", check_date_time}, {"date", check_date},
      {"time", check_time},           {"email", check_email},
      {"hostname", check_hostname},   {"ipv4", check_ipv4},
      {"ipv6", check_ipv6},           {"uri", check_uri},
      {"uuid", check_uuid},
  };

  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    if (strcmp(format, formats[i].name) == 0)
      return formats[i].check(text, len);
  }
  return true;
}
