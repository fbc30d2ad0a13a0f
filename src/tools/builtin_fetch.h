/* builtin_fetch.h - an HTTP GET tool with URL and address rules.
 *
 * The toolbox offers one tool, "fetch". Each URL, the first and every
 * redirect target, is parsed with libcurl's URL API and must use an allowed
 * scheme, name an allowed host and carry no user name or password. libcurl
 * follows no redirect itself: the tool checks each Location and starts the
 * next request. Each address libcurl is about to connect to, after name
 * resolution, is checked against a deny list of loopback, private,
 * link-local (cloud metadata), shared, multicast and reserved ranges. So a
 * name that resolves to an internal address is rejected before a packet is
 * sent. Proxies, including those named in the environment, are never used.
 *
 * The configuration is borrowed during mvm_builtin_fetch_new, which copies
 * what it keeps.
 */
#ifndef MVM_TOOLS_BUILTIN_FETCH_H
#define MVM_TOOLS_BUILTIN_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "mvm.h"

typedef struct mvm_builtin_fetch_config {
  const char *server; /* toolbox name; default "fetch" */
  /* NULL-terminated lists. schemes: NULL means {"https", "http"}.
   * hosts: NULL means any host. An entry is a host name or address matched
   * exactly ("example.com", "127.0.0.1", "[::1]"), "*.example.com" for
   * any name below example.com, or "*" for any host.
   * allow_nets: CIDR ranges ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
   * exempt from the address deny list. NULL exempts none. */
  const char *const *schemes;
  const char *const *hosts;
  const char *const *allow_nets;
  size_t max_bytes;        /* response body cap; default 4 MiB */
  size_t max_header_bytes; /* response header cap; default 64 KiB */
  size_t max_url_bytes;    /* URL length cap; default 8 KiB */
  double timeout_s;        /* whole call, redirects included; default 30 */
  double connect_timeout_s; /* each connection; default 10 */
  int max_redirects;       /* default 5 */
} mvm_builtin_fetch_config;

/* Fills cfg with the defaults: http and https, any host, no range exempt
 * from the deny list. */
void mvm_builtin_fetch_config_init(mvm_builtin_fetch_config *cfg);

/* Creates the toolbox in *out, released with out->ops->close(out->self).
 * Fails with MVM_ECONFIG naming an unsupported scheme, an empty or too
 * long list entry, an invalid CIDR range or a limit that is not set. */
int mvm_builtin_fetch_new(const mvm_builtin_fetch_config *cfg,
                          mvm_toolbox *out, mvm_error *err);

/* Checks one socket address against the toolbox's deny list and its
 * exemptions. Returns true when the address is denied and writes the
 * denied range ("169.254.0.0/16 link-local (cloud metadata)") into
 * why[size]. The toolbox
 * must come from mvm_builtin_fetch_new. */
bool mvm_builtin_fetch_address_denied(const mvm_toolbox *tb,
                                      const struct sockaddr *addr,
                                      char *why, size_t size);

#endif
