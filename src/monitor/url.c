/* url.c - URL checks for `scheme` and `host` constraints, on libcurl's URL
 * API so that the host compared is the host curl would connect to. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "monitor/policy_internal.h"

/* Lower-cases ASCII letters and removes one trailing dot, which names the
 * same host in DNS ("example.com." is "example.com"). */
static void canonical_case(char *host)
{
  size_t n = strlen(host);

  for (size_t i = 0; i < n; i++)
    host[i] = (char)tolower((unsigned char)host[i]);
  if (n > 1 && host[n - 1] == '.')
    host[n - 1] = '\0';
}

static bool is_ascii(const char *s)
{
  for (; *s != '\0'; s++) {
    if ((unsigned char)*s >= 0x80)
      return false;
  }
  return true;
}

/* Reads the host of a parsed URL: punycode for an international name,
 * decoded percent-escapes, curl's canonical form for IP literals. */
static char *host_of(CURLU *u, char *why, size_t size)
{
  char *raw = NULL;
  char *host = NULL;
  CURLUcode uc = curl_url_get(u, CURLUPART_HOST, &raw, CURLU_URLDECODE);

  if (uc == CURLUE_NO_HOST) {
    snprintf(why, size, "it has no host");
    return NULL;
  }
  if (uc != CURLUE_OK) {
    snprintf(why, size, "its host is invalid: %s", curl_url_strerror(uc));
    return NULL;
  }
  if (!is_ascii(raw)) {
    char *puny = NULL;
    /* NOTE: libcurl 7.88 converts with idn2_lookup_ul, which reads the
     * name in the process locale; under the "C" locale every
     * international name fails here and the constraint denies. */
    uc = curl_url_get(u, CURLUPART_HOST, &puny, CURLU_PUNYCODE);
    if (uc != CURLUE_OK || puny == NULL || !is_ascii(puny)) {
      snprintf(why, size, "its international host name '%.100s' cannot "
               "be converted to punycode", raw);
      curl_free(raw);
      curl_free(puny);
      return NULL;
    }
    curl_free(raw);
    raw = puny;
  }
  host = strdup(raw);
  curl_free(raw);
  if (host == NULL) {
    snprintf(why, size, "out of memory");
    return NULL;
  }
  canonical_case(host);
  return host;
}

/* Schemes whose URLs the WHATWG URL standard parses with an authority
 * however many slashes follow the colon. */
static bool is_special_scheme(const char *url, size_t n)
{
  static const char *const special[] = {"http", "https", "ws", "wss", "ftp",
                                         "file"};

  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
    if (strlen(special[i]) == n && strncasecmp(url, special[i], n) == 0)
      return true;
  }
  return false;
}

/* Describes what in url makes parsers disagree on its host, or returns
 * NULL. curl follows RFC 3986, browsers and Node follow the WHATWG URL
 * standard, and a fetch tool may use either. WHATWG reads a backslash as
 * '/', so https://evil.com\@example.com/ is evil.com there but
 * example.com for curl. It removes tabs and line ends anywhere and strips
 * spaces and control characters at the ends. It splits user information
 * at the last '@', where curl 7.88 splits at the first. */
static const char *parser_differential(const char *url)
{
  for (const char *p = url; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c == 0x7f)
      return "it contains a space or a control character, which URL "
             "parsers remove, strip or reject differently";
    if (c == '\\')
      return "it contains a backslash, which WHATWG parsers (browsers, "
             "Node) read as '/' and curl does not";
  }

  const char *colon = strchr(url, ':');
  if (colon == NULL || strcspn(url, "/?#") < (size_t)(colon - url))
    return NULL;
  const char *rest = colon + 1;
  if (is_special_scheme(url, (size_t)(colon - url))) {
    while (*rest == '/')
      rest++;
  } else if (strncmp(rest, "//", 2) == 0) {
    rest += 2;
  } else {
    return NULL; /* no authority: mailto:a@example.com */
  }
  if (memchr(rest, '@', strcspn(rest, "/?#")) != NULL)
    return "it has user information (a '@' before the host), which URL "
           "parsers split differently";
  return NULL;
}

bool pol_url_parse(const char *url, size_t len, char **scheme, char **host,
                   char *why, size_t size)
{
  CURLU *u = NULL;
  char *s = NULL;
  bool ok = false;

  *scheme = NULL;
  *host = NULL;
  if (strlen(url) != len) {
    snprintf(why, size, "it contains a NUL byte");
    return false;
  }
  const char *differs = parser_differential(url);
  if (differs != NULL) {
    snprintf(why, size, "%s", differs);
    return false;
  }
  u = curl_url();
  if (u == NULL) {
    snprintf(why, size, "out of memory");
    return false;
  }
  /* Unknown schemes parse, so that `scheme` reports them by name. */
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url,
                              CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    snprintf(why, size, "it is not a valid URL: %s", curl_url_strerror(uc));
    goto out;
  }
  char *user = NULL;
  uc = curl_url_get(u, CURLUPART_USER, &user, 0);
  curl_free(user);
  if (uc != CURLUE_NO_USER) {
    snprintf(why, size, "it has user information, which URL parsers split "
             "differently");
    goto out;
  }
  uc = curl_url_get(u, CURLUPART_SCHEME, &s, 0);
  if (uc != CURLUE_OK) {
    snprintf(why, size, "it has no scheme");
    goto out;
  }
  *scheme = strdup(s);
  if (*scheme == NULL) {
    snprintf(why, size, "out of memory");
    goto out;
  }
  canonical_case(*scheme);

  char hwhy[256];
  *host = host_of(u, hwhy, sizeof hwhy);
  /* A URL without a host (file:///x) is valid; a `host` check fails on
   * it later. Any other host error fails here. */
  if (*host == NULL && strcmp(hwhy, "it has no host") != 0) {
    snprintf(why, size, "%s", hwhy);
    free(*scheme);
    *scheme = NULL;
    goto out;
  }
  ok = true;

out:
  curl_free(s);
  curl_url_cleanup(u);
  return ok;
}

char *pol_url_normalize_host(const char *host, char *why, size_t size)
{
  char url[600];
  char *scheme = NULL;
  char *out = NULL;
  bool v6 = strchr(host, ':') != NULL && host[0] != '[';

  if (strlen(host) > 512 || strpbrk(host, "/?#@ ") != NULL) {
    snprintf(why, size, "'%.100s' is not a host name", host);
    return NULL;
  }
  snprintf(url, sizeof url, v6 ? "http://[%s]/" : "http://%s/", host);
  if (!pol_url_parse(url, strlen(url), &scheme, &out, why, size))
    return NULL;
  free(scheme);
  if (out == NULL)
    snprintf(why, size, "'%.100s' is not a host name", host);
  return out;
}

bool pol_host_matches(const char *entry, const char *host)
{
  if (entry[0] == '*' && entry[1] == '.') {
    size_t n = strlen(host);
    size_t m = strlen(entry + 1); /* ".suffix" */
    return n > m && strcmp(host + n - m, entry + 1) == 0;
  }
  return strcmp(entry, host) == 0;
}
