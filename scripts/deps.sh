#!/bin/sh
# Install the Debian packages and npm packages that mvm's build, tests and
# demo need. Safe to run again: it installs only what is missing.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)

debs="build-essential cmake pkg-config clang libclang-rt-14-dev
libjansson-dev libcurl4-openssl-dev libsqlite3-dev sqlite3 libpcre2-dev
libsodium-dev libseccomp-dev libmicrohttpd-dev libcmocka-dev
ca-certificates"

missing=""
for p in $debs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"
  then
    missing="$missing $p"
  fi
done

# Node.js may come from another source (NodeSource ships npm inside its
# nodejs package, which conflicts with Debian's npm), so only the commands
# are checked. The npm packages below bring their own Node 22 where needed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
  echo "deps: installing Debian packages:$missing"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi

# npm packages go into the project's own folder, never globally.
if [ ! -f "$here/node/.installed" ] ||
   ! cmp -s "$here/node/package.json" "$here/node/.installed"; then
  echo "deps: installing npm packages into node/"
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/node/package.json" "$here/node/.installed"
fi
