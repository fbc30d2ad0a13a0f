/* builtin_fetch.c - the "fetch" tool: HTTP GET with scheme, host, redirect
 * and address rules over libcurl. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/log.h"
#include "tools/builtin_fetch.h"
#include "tools/sandbox.h"

#define FETCH_DEFAULT_MAX_BYTES (4u * 1024 * 1024)
#define FETCH_DEFAULT_MAX_HEADER (64u * 1024)
#define FETCH_DEFAULT_MAX_URL (8u * 1024)
#define FETCH_DEFAULT_TIMEOUT_S 30.0
#define FETCH_DEFAULT_CONNECT_S 10.0
#define FETCH_DEFAULT_REDIRECTS 5
#define FETCH_LIST_MAX 256

struct net {
  int family; /* AF_INET or AF_INET6 */
  unsigned char addr[16];
  int prefix;
  const char *label;
};

/* Ranges no fetch may connect to unless allow_nets exempts them: the
 * special-purpose registries of IANA (RFC 6890 and updates). IPv6 forms
 * that embed an IPv4 address (mapped, NAT64, 6to4) are checked by that
 * address instead. */
static const struct net denied_nets[] = {
    {AF_INET, {0, 0, 0, 0}, 8, "0.0.0.0/8 this network"},
    {AF_INET, {10, 0, 0, 0}, 8, "10.0.0.0/8 private"},
    {AF_INET, {100, 64, 0, 0}, 10, "100.64.0.0/10 shared address space"},
    {AF_INET, {127, 0, 0, 0}, 8, "127.0.0.0/8 loopback"},
    {AF_INET, {169, 254, 0, 0}, 16,
     "169.254.0.0/16 link-local (cloud metadata)"},
    {AF_INET, {172, 16, 0, 0}, 12, "172.16.0.0/12 private"},
    {AF_INET, {192, 0, 0, 0}, 24, "192.0.0.0/24 protocol assignments"},
    {AF_INET, {192, 0, 2, 0}, 24, "192.0.2.0/24 documentation"},
    {AF_INET, {192, 88, 99, 0}, 24, "192.88.99.0/24 6to4 relay"},
    {AF_INET, {192, 168, 0, 0}, 16, "192.168.0.0/16 private"},
    {AF_INET, {198, 18, 0, 0}, 15, "198.18.0.0/15 benchmarking"},
    {AF_INET, {198, 51, 100, 0}, 24, "198.51.100.0/24 documentation"},
    {AF_INET, {203, 0, 113, 0}, 24, "203.0.113.0/24 documentation"},
    {AF_INET, {224, 0, 0, 0}, 4, "224.0.0.0/4 multicast"},
    {AF_INET, {240, 0, 0, 0}, 4, "240.0.0.0/4 reserved and broadcast"},
    {AF_INET6, {0}, 96, "::/96 unspecified, loopback, IPv4-compatible"},
    {AF_INET6, {0, 0x64, 0xff, 0x9b, 0, 1}, 48, "64:ff9b:1::/48 local NAT64"},
    {AF_INET6, {0x01, 0x00}, 64, "100::/64 discard"},
    {AF_INET6, {0x20, 0x01, 0x00, 0x00}, 23,
     "2001::/23 protocol assignments (Teredo)"},
    {AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32, "2001:db8::/32 documentation"},
    {AF_INET6, {0xfc}, 7, "fc00::/7 unique local"},
    {AF_INET6, {0xfe, 0x80}, 10, "fe80::/10 link-local"},
    {AF_INET6, {0xfe, 0xc0}, 10, "fec0::/10 site-local"},
    {AF_INET6, {0xff}, 8, "ff00::/8 multicast"},
};

struct fetch {
  char *server;
  char **schemes;
  char **hosts;     /* lower case, without brackets; NULL: any */
  struct net *allow;
  size_t nallow;
  size_t max_bytes;
  size_t max_header;
  size_t max_url;
  double timeout_s;
  double connect_s;
  int max_redirects;
};

/* The state of one transfer, shared with libcurl's callbacks. */
struct transfer {
  const struct fetch *fetch;
  const mvm_tool_call_opts *opts;
  mvm_buf body;
  size_t header_bytes;
  bool body_limit;
  bool header_limit;
  bool cancelled;
  char denied[256]; /* set when the address check refused a connection */
};

void mvm_builtin_fetch_config_init(mvm_builtin_fetch_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->server = "fetch";
  cfg->max_bytes = FETCH_DEFAULT_MAX_BYTES;
  cfg->max_header_bytes = FETCH_DEFAULT_MAX_HEADER;
  cfg->max_url_bytes = FETCH_DEFAULT_MAX_URL;
  cfg->timeout_s = FETCH_DEFAULT_TIMEOUT_S;
  cfg->connect_timeout_s = FETCH_DEFAULT_CONNECT_S;
  cfg->max_redirects = FETCH_DEFAULT_REDIRECTS;
}

/* ---------------------------------------------------------------- addresses */

static bool net_contains(const struct net *n, int family,
                         const unsigned char *addr)
{
  if (n->family != family)
    return false;
  int full = n->prefix / 8;
  int bits = n->prefix % 8;
  if (memcmp(n->addr, addr, (size_t)full) != 0)
    return false;
  if (bits == 0)
    return true;
  unsigned char mask = (unsigned char)(0xff << (8 - bits));
  return (n->addr[full] & mask) == (addr[full] & mask);
}

/* Finds the IPv4 address an IPv6 address embeds, if any. */
static bool embedded_v4(const unsigned char *a6, unsigned char *a4)
{
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

  if (memcmp(a6, mapped, 12) == 0 || memcmp(a6, nat64, 12) == 0) {
    memcpy(a4, a6 + 12, 4);
    return true;
  }
  if (a6[0] == 0x20 && a6[1] == 0x02) {
    memcpy(a4, a6 + 2, 4);
    return true;
  }
  return false;
}

static bool allowed_by(const struct fetch *f, int family,
                       const unsigned char *addr)
{
  for (size_t i = 0; i < f->nallow; i++) {
    if (net_contains(&f->allow[i], family, addr))
      return true;
  }
  return false;
}

static const struct net *denied_by(int family, const unsigned char *addr)
{
  for (size_t i = 0; i < sizeof denied_nets / sizeof denied_nets[0]; i++) {
    if (net_contains(&denied_nets[i], family, addr))
      return &denied_nets[i];
  }
  return NULL;
}

static bool check_address(const struct fetch *f, const struct sockaddr *sa,
                          char *why, size_t size)
{
  unsigned char a4[4];
  const unsigned char *addr;
  int family = sa->sa_family;

  if (family == AF_INET) {
    addr = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
  } else if (family == AF_INET6) {
    addr =
        (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (allowed_by(f, AF_INET6, addr))
      return false;
    if (embedded_v4(addr, a4)) {
      addr = a4;
      family = AF_INET;
    }
  } else {
    snprintf(why, size, "address family %d", family);
    return true;
  }

  if (allowed_by(f, family, addr))
    return false;
  const struct net *n = denied_by(family, addr);
  if (n == NULL)
    return false;
  snprintf(why, size, "%s", n->label);
  return true;
}

bool mvm_builtin_fetch_address_denied(const mvm_toolbox *tb,
                                      const struct sockaddr *addr,
                                      char *why, size_t size)
{
  return check_address(tb->self, addr, why, size);
}

/* Parses "a.b.c.d/n", "x::y/n" or an address without a prefix. */
static bool parse_cidr(const char *text, struct net *n)
{
  char addr[64];
  const char *slash = strchr(text, '/');
  size_t len = slash ? (size_t)(slash - text) : strlen(text);

  if (len == 0 || len >= sizeof addr)
    return false;
  memcpy(addr, text, len);
  addr[len] = '\0';
  memset(n, 0, sizeof *n);
  if (inet_pton(AF_INET, addr, n->addr) == 1) {
    n->family = AF_INET;
    n->prefix = 32;
  } else if (inet_pton(AF_INET6, addr, n->addr) == 1) {
    n->family = AF_INET6;
    n->prefix = 128;
  } else {
    return false;
  }
  if (slash == NULL)
    return true;

  char *end;
  long prefix = strtol(slash + 1, &end, 10);
  if (slash[1] == '\0' || *end != '\0' || prefix < 0 || prefix > n->prefix)
    return false;
  n->prefix = (int)prefix;
  return true;
}

/* ---------------------------------------------------------------- URLs */

/* Copies a host name in lower case, without brackets or a final dot. */
static void normalize_host(const char *host, char *out, size_t size)
{
  size_t len = strlen(host);

  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    host++;
    len -= 2;
  }
  if (len > 1 && host[len - 1] == '.')
    len--;
  if (len >= size)
    len = size - 1;
  for (size_t i = 0; i < len; i++)
    out[i] = (char)tolower((unsigned char)host[i]);
  out[len] = '\0';
}

static bool host_allowed(const struct fetch *f, const char *host)
{
  if (f->hosts == NULL)
    return true;
  for (size_t i = 0; f->hosts[i] != NULL; i++) {
    const char *pattern = f->hosts[i];
    if (strcmp(pattern, "*") == 0 || strcmp(pattern, host) == 0)
      return true;
    /* "*.example.com" matches names below example.com only. */
    if (pattern[0] == '*' && pattern[1] == '.') {
      size_t hl = strlen(host);
      size_t sl = strlen(pattern + 1);
      if (hl > sl && strcmp(host + hl - sl, pattern + 1) == 0)
        return true;
    }
  }
  return false;
}

static bool scheme_allowed(const struct fetch *f, const char *scheme)
{
  for (size_t i = 0; f->schemes[i] != NULL; i++) {
    if (strcmp(f->schemes[i], scheme) == 0)
      return true;
  }
  return false;
}

/* True when the URL part is present. */
static bool url_has(CURLU *u, CURLUPart part)
{
  char *value = NULL;
  CURLUcode uc = curl_url_get(u, part, &value, 0);
  curl_free(value);
  return uc == CURLUE_OK;
}

/* Parses and checks one URL. On success *out is the parsed handle; on
 * failure *result gets the isError result (or stays NULL on no memory). */
static CURLU *check_url(const struct fetch *f, const char *url,
                        const char *hop, json_t **result)
{
  char host[256];
  char *scheme = NULL;
  char *raw_host = NULL;
  CURLU *u = curl_url();

  *result = NULL;
  if (u == NULL)
    return NULL;
  if (strlen(url) > f->max_url) {
    *result = mvm_sandbox_result_error("limit",
                                       "%s URL is longer than %zu bytes",
                                       hop, f->max_url);
    goto fail;
  }
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    *result = mvm_sandbox_result_error("invalid_argument",
                                       "%s URL '%s' is invalid: %s", hop, url,
                                       curl_url_strerror(uc));
    goto fail;
  }
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      !scheme_allowed(f, scheme)) {
    *result = mvm_sandbox_result_error(
        "denied", "%s URL '%s' uses scheme '%s', which is not allowed", hop,
        url, scheme ? scheme : "(none)");
    goto fail;
  }
  if (url_has(u, CURLUPART_USER) || url_has(u, CURLUPART_PASSWORD) ||
      url_has(u, CURLUPART_OPTIONS)) {
    *result = mvm_sandbox_result_error(
        "denied", "%s URL '%s' carries a user name or password before '@'; "
                  "such URLs are not allowed",
        hop, url);
    goto fail;
  }
  if (url_has(u, CURLUPART_ZONEID)) {
    *result = mvm_sandbox_result_error(
        "denied", "%s URL '%s' has an IPv6 zone id, which is not allowed",
        hop, url);
    goto fail;
  }
  if (curl_url_get(u, CURLUPART_HOST, &raw_host, CURLU_PUNYCODE) !=
      CURLUE_OK) {
    *result = mvm_sandbox_result_error(
        "invalid_argument", "%s URL '%s' has no usable host name", hop, url);
    goto fail;
  }
  normalize_host(raw_host, host, sizeof host);
  if (!host_allowed(f, host)) {
    *result = mvm_sandbox_result_error(
        "denied", "%s URL '%s' names host '%s', which is not in the allowed "
                  "hosts",
        hop, url, host);
    goto fail;
  }
  curl_free(scheme);
  curl_free(raw_host);
  return u;

fail:
  curl_free(scheme);
  curl_free(raw_host);
  curl_url_cleanup(u);
  return NULL;
}

/* ---------------------------------------------------------------- transfer */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
  struct transfer *t = clientp;
  char why[128];

  if (check_address(t->fetch, &address->addr, why, sizeof why)) {
    char text[INET6_ADDRSTRLEN] = "?";
    const void *a =
        address->family == AF_INET6
            ? (const void *)&((struct sockaddr_in6 *)&address->addr)
                  ->sin6_addr
            : (const void *)&((struct sockaddr_in *)&address->addr)->sin_addr;
    inet_ntop(address->family, a, text, sizeof text);
    snprintf(t->denied, sizeof t->denied, "address %s is in %s", text, why);
    mvm_trace(MVM_TRACE_HTTP, "fetch: refused to connect: %s", t->denied);
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC,
                address->protocol);
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
  struct transfer *t = userdata;
  size_t len = size * n;

  if (mvm_buf_append(&t->body, data, len) != MVM_OK) {
    t->body_limit = true;
    return 0;
  }
  return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
  struct transfer *t = userdata;
  size_t len = size * n;

  t->header_bytes += len;
  if (t->header_bytes > t->fetch->max_header) {
    t->header_limit = true;
    return 0;
  }
  return len;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
  struct transfer *t = clientp;
  const mvm_model_stream *p = t->opts ? t->opts->progress : NULL;

  if (p != NULL && p->cancelled != NULL && p->cancelled(p->ctx)) {
    t->cancelled = true;
    return 1;
  }
  return 0;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CURLcode setup_easy(CURL *easy, struct transfer *t, CURLU *url,
                           double remaining_s)
{
  const struct fetch *f = t->fetch;
  long timeout_ms = (long)(remaining_s * 1000.0);
  long connect_ms = (long)(f->connect_s * 1000.0);
  CURLcode c = CURLE_OK;

  if (timeout_ms < 1)
    timeout_ms = 1;
#define SET(opt, val)                                                         \
  if (c == CURLE_OK)                                                          \
  c = curl_easy_setopt(easy, opt, val)
  SET(CURLOPT_CURLU, url);
  SET(CURLOPT_HTTPGET, 1L);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_ACCEPT_ENCODING, "");
  SET(CURLOPT_USERAGENT, "mvm/" MVM_VERSION " (fetch tool)");
  SET(CURLOPT_TIMEOUT_MS, timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_bytes);
  SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SET(CURLOPT_OPENSOCKETDATA, t);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, t);
  SET(CURLOPT_XFERINFOFUNCTION, on_progress);
  SET(CURLOPT_XFERINFODATA, t);
  SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
  return c;
}

/* Builds the isError result of a failed transfer of `url`. */
static json_t *transfer_error(const struct transfer *t, CURLcode c,
                              const char *url, const char *errbuf)
{
  if (t->denied[0] != '\0')
    return mvm_sandbox_result_error(
        "denied", "fetching '%s' was refused: %s; add the range to "
                  "allow_nets to permit it",
        url, t->denied);
  if (t->body_limit || c == CURLE_FILESIZE_EXCEEDED)
    return mvm_sandbox_result_error(
        "limit", "the response from '%s' is larger than the limit of %zu "
                 "bytes",
        url, t->fetch->max_bytes);
  if (t->header_limit)
    return mvm_sandbox_result_error(
        "limit", "the response headers from '%s' are larger than the limit "
                 "of %zu bytes",
        url, t->fetch->max_header);
  if (c == CURLE_OPERATION_TIMEDOUT)
    return mvm_sandbox_result_error("timeout", "fetching '%s' timed out: %s",
                                    url, errbuf[0] ? errbuf
                                                   : curl_easy_strerror(c));
  if (c == CURLE_COULDNT_RESOLVE_HOST)
    return mvm_sandbox_result_error("not_found",
                                    "cannot resolve the host of '%s': %s",
                                    url, errbuf);
  return mvm_sandbox_result_error("io", "fetching '%s' failed: %s", url,
                                  errbuf[0] ? errbuf
                                            : curl_easy_strerror(c));
}

/* Builds the result of the last response. */
static json_t *response_result(CURL *easy, const struct transfer *t,
                               const char *url, json_t *redirects)
{
  long status = 0;
  char *type = NULL;
  size_t replaced = 0;

  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type);
  json_t *body = mvm_sandbox_json_text(t->body.data ? t->body.data : "",
                                       t->body.len, &replaced);
  json_t *jtype = type ? mvm_sandbox_json_text(type, strlen(type), NULL)
                       : json_null();
  json_t *jurl = mvm_sandbox_json_text(url, strlen(url), NULL);
  if (body == NULL || jtype == NULL || jurl == NULL)
    goto fail;

  json_t *structured = json_pack(
      "{sOsisosIsIsO}", "url", jurl, "status", (int)status, "content_type",
      jtype, "bytes", (json_int_t)t->body.len, "replaced_bytes",
      (json_int_t)replaced, "redirects", redirects);
  jtype = NULL;
  if (structured == NULL)
    goto fail;

  json_t *result;
  if (status >= 400) {
    char text[1024];
    snprintf(text, sizeof text, "HTTP %ld from '%s'", status,
             json_string_value(jurl));
    json_object_set_new(structured, "error", json_string("http"));
    json_object_set(structured, "body", body);
    result = mvm_sandbox_result(text, structured, true);
  } else {
    result = mvm_sandbox_result(json_string_value(body), structured, false);
  }
  json_decref(body);
  json_decref(jurl);
  return result;

fail:
  json_decref(body);
  json_decref(jtype);
  json_decref(jurl);
  return NULL;
}

/* Follows one hop's redirect: checks the Location target and replaces *u.
 * Returns NULL to go on, or the result to return. */
static json_t *next_hop(const struct fetch *f, CURL *easy, CURLU **u,
                        json_t *redirects, bool *done)
{
  char *location = NULL;
  json_t *result = NULL;

  *done = true;
  curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location);
  if (location == NULL)
    return NULL;

  if ((int)json_array_size(redirects) >= f->max_redirects)
    return mvm_sandbox_result_error(
        "limit", "more than %d redirects; the last pointed to '%s'",
        f->max_redirects, location);

  CURLU *next = check_url(f, location, "redirect", &result);
  if (next == NULL)
    return result ? result
                  : mvm_sandbox_result_error("io", "out of memory parsing "
                                                   "a redirect");
  json_array_append_new(redirects,
                        mvm_sandbox_json_text(location, strlen(location),
                                              NULL));
  mvm_trace(MVM_TRACE_HTTP, "fetch: redirect to '%s'", location);
  curl_url_cleanup(*u);
  *u = next;
  *done = false;
  return NULL;
}

/* Runs the request and its redirects. Returns MVM_ECANCELLED when the
 * caller cancelled, MVM_OK with *result otherwise. */
static int run_fetch(const struct fetch *f, const char *url,
                     const mvm_tool_call_opts *opts, json_t **result)
{
  struct transfer t = {.fetch = f, .opts = opts};
  char errbuf[CURL_ERROR_SIZE];
  double timeout = f->timeout_s;
  json_t *redirects = json_array();
  CURL *easy = NULL;
  char *current = NULL;
  int rc = MVM_OK;

  if (opts != NULL && opts->timeout_s > 0 && opts->timeout_s < timeout)
    timeout = opts->timeout_s;
  double deadline = now_s() + timeout;

  CURLU *u = check_url(f, url, "the", result);
  if (u == NULL || redirects == NULL)
    goto out;
  mvm_buf_init(&t.body, f->max_bytes);

  for (bool done = false; !done;) {
    curl_easy_cleanup(easy);
    easy = curl_easy_init();
    mvm_buf_reset(&t.body);
    t.header_bytes = 0;
    errbuf[0] = '\0';
    curl_free(current);
    current = NULL;
    curl_url_get(u, CURLUPART_URL, &current, 0);

    double remaining = deadline - now_s();
    if (easy == NULL || current == NULL ||
        setup_easy(easy, &t, u, remaining) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
      *result = NULL;
      goto out;
    }
    if (remaining <= 0) {
      *result = mvm_sandbox_result_error("timeout",
                                         "fetching '%s' timed out after "
                                         "%zu redirects",
                                         current, json_array_size(redirects));
      goto out;
    }

    mvm_trace(MVM_TRACE_HTTP, "fetch: GET '%s'", current);
    CURLcode c = curl_easy_perform(easy);
    if (t.cancelled) {
      rc = MVM_ECANCELLED;
      goto out;
    }
    if (c != CURLE_OK) {
      *result = transfer_error(&t, c, current, errbuf);
      goto out;
    }
    *result = next_hop(f, easy, &u, redirects, &done);
    if (*result != NULL)
      goto out;
  }
  *result = response_result(easy, &t, current, redirects);

out:
  curl_free(current);
  curl_easy_cleanup(easy);
  curl_url_cleanup(u);
  mvm_buf_free(&t.body);
  json_decref(redirects);
  return rc;
}

/* ---------------------------------------------------------------- toolbox */

static const char fetch_schema[] =
    "{\"name\": \"fetch\", \"description\": \"Fetch a URL with HTTP GET and "
    "return the response body as text. Redirects are followed when they "
    "stay within the allowed schemes and hosts; internal and private "
    "addresses are refused.\", \"inputSchema\": {\"type\": \"object\", "
    "\"properties\": {\"url\": {\"type\": \"string\", \"description\": "
    "\"absolute http or https URL\"}}, \"required\": [\"url\"], "
    "\"additionalProperties\": false}, \"annotations\": {\"readOnlyHint\": "
    "true, \"openWorldHint\": true}}";

static int fetch_list(void *self, json_t **tools, mvm_error *err)
{
  struct fetch *f = self;
  json_t *tool = json_loads(fetch_schema, 0, NULL);
  json_t *list = tool ? json_pack("[o]", tool) : NULL;

  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, f->server,
                         "out of memory listing the fetch tool");
  *tools = list;
  return MVM_OK;
}

static int fetch_call(void *self, const char *name, const json_t *args,
                      const mvm_tool_call_opts *opts, json_t **result,
                      mvm_error *err)
{
  static const char *const known[] = {"url", NULL};
  struct fetch *f = self;
  json_t *out = NULL;
  int rc = MVM_OK;

  if (strcmp(name, "fetch") != 0)
    return mvm_error_set(err, MVM_ENOTFOUND, f->server,
                         "no tool '%s' in '%s'; the only tool is fetch",
                         name, f->server);

  out = mvm_sandbox_check_args(args, known);
  const json_t *url = json_object_get(args, "url");
  if (out == NULL && !json_is_string(url))
    out = mvm_sandbox_result_error("invalid_argument",
                                   "argument 'url' must be a string");
  else if (out == NULL &&
           json_string_length(url) != strlen(json_string_value(url)))
    out = mvm_sandbox_result_error("invalid_argument",
                                   "argument 'url' contains a NUL byte");
  if (out == NULL)
    rc = run_fetch(f, json_string_value(url), opts, &out);

  if (rc == MVM_ECANCELLED)
    return mvm_error_set(err, MVM_ECANCELLED, f->server,
                         "fetching '%s' was cancelled",
                         json_string_value(url));
  if (out == NULL)
    return mvm_error_set(err, MVM_ENOMEM, f->server,
                         "out of memory fetching a URL");
  *result = out;
  return MVM_OK;
}

static void free_list(char **list)
{
  for (size_t i = 0; list != NULL && list[i] != NULL; i++)
    free(list[i]);
  free(list);
}

static void fetch_close(void *self)
{
  struct fetch *f = self;

  if (f == NULL)
    return;
  free_list(f->schemes);
  free_list(f->hosts);
  free(f->allow);
  free(f->server);
  free(f);
}

static const mvm_tool_ops fetch_ops = {
    .kind = "builtin",
    .list = fetch_list,
    .call = fetch_call,
    .close = fetch_close,
};

/* Copies a NULL-terminated list in the form normalize_host gives. */
static int copy_list(const char *const *in, char ***out,
                     mvm_error *err)
{
  size_t n = 0;

  while (in[n] != NULL)
    n++;
  if (n > FETCH_LIST_MAX)
    return mvm_error_set(err, MVM_ECONFIG, "fetch",
                         "a fetch list has %zu entries, more than %d", n,
                         FETCH_LIST_MAX);
  char **list = calloc(n + 1, sizeof *list);
  if (list == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "fetch", "out of memory");
  for (size_t i = 0; i < n; i++) {
    char buf[256];
    if (in[i][0] == '\0' || strlen(in[i]) >= sizeof buf) {
      free_list(list);
      return mvm_error_set(err, MVM_ECONFIG, "fetch",
                           "entry '%s' is empty or longer than 255 bytes",
                           in[i]);
    }
    normalize_host(in[i], buf, sizeof buf);
    list[i] = strdup(buf);
    if (list[i] == NULL) {
      free_list(list);
      return mvm_error_set(err, MVM_ENOMEM, "fetch", "out of memory");
    }
  }
  *out = list;
  return MVM_OK;
}

static int copy_nets(struct fetch *f, const char *const *in, mvm_error *err)
{
  size_t n = 0;

  while (in[n] != NULL)
    n++;
  if (n > FETCH_LIST_MAX)
    return mvm_error_set(err, MVM_ECONFIG, "fetch",
                         "allow_nets has %zu entries, more than %d", n,
                         FETCH_LIST_MAX);
  f->allow = calloc(n ? n : 1, sizeof *f->allow);
  if (f->allow == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "fetch", "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (!parse_cidr(in[i], &f->allow[i]))
      return mvm_error_set(err, MVM_ECONFIG, "fetch",
                           "allow_nets entry '%s' is not an address or CIDR "
                           "range such as 10.0.0.0/8 or ::1/128",
                           in[i]);
    f->nallow++;
  }
  return MVM_OK;
}

static int check_config(const mvm_builtin_fetch_config *cfg, mvm_error *err)
{
  static const char *const known[] = {"http", "https", NULL};

  if (cfg->max_bytes == 0 || cfg->max_header_bytes == 0 ||
      cfg->max_url_bytes == 0 || cfg->timeout_s <= 0 ||
      cfg->connect_timeout_s <= 0 || cfg->max_redirects < 0)
    return mvm_error_set(err, MVM_ECONFIG, "fetch",
                         "the fetch limits and timeouts must be above 0; "
                         "start from mvm_builtin_fetch_config_init");
  for (size_t i = 0; cfg->schemes != NULL && cfg->schemes[i] != NULL; i++) {
    size_t k = 0;
    while (known[k] != NULL && strcmp(known[k], cfg->schemes[i]) != 0)
      k++;
    if (known[k] == NULL)
      return mvm_error_set(err, MVM_ECONFIG, "fetch",
                           "scheme '%s' is not supported; use http or https",
                           cfg->schemes[i]);
  }
  return MVM_OK;
}

int mvm_builtin_fetch_new(const mvm_builtin_fetch_config *cfg,
                          mvm_toolbox *out, mvm_error *err)
{
  static const char *const default_schemes[] = {"https", "http", NULL};
  static const char *const no_nets[] = {NULL};
  int rc = check_config(cfg, err);

  if (rc)
    return rc;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return mvm_error_set(err, MVM_EIO, "fetch", "curl_global_init failed");

  struct fetch *f = calloc(1, sizeof *f);
  if (f == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "fetch", "out of memory");
  f->server = strdup(cfg->server ? cfg->server : "fetch");
  f->max_bytes = cfg->max_bytes;
  f->max_header = cfg->max_header_bytes;
  f->max_url = cfg->max_url_bytes;
  f->timeout_s = cfg->timeout_s;
  f->connect_s = cfg->connect_timeout_s;
  f->max_redirects = cfg->max_redirects;
  if (f->server == NULL) {
    rc = mvm_error_set(err, MVM_ENOMEM, "fetch", "out of memory");
    goto fail;
  }

  rc = copy_list(cfg->schemes ? cfg->schemes : default_schemes, &f->schemes,
                 err);
  if (rc == 0 && cfg->hosts != NULL)
    rc = copy_list(cfg->hosts, &f->hosts, err);
  if (rc == 0)
    rc = copy_nets(f, cfg->allow_nets ? cfg->allow_nets : no_nets, err);
  if (rc)
    goto fail;

  mvm_trace(MVM_TRACE_HTTP, "fetch: %s hosts, %zu exempt ranges",
            f->hosts ? "listed" : "any", f->nallow);
  out->server = f->server;
  out->ops = &fetch_ops;
  out->self = f;
  return MVM_OK;

fail:
  fetch_close(f);
  return rc;
}
