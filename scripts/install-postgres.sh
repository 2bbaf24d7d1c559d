#!/usr/bin/env bash
# Make Debian's PostgreSQL server programs available and print their directory
# (e.g. /usr/lib/postgresql/15/bin). The tests start their own throw-away server from there
# (initdb + postgres on a loopback port); the packaged system cluster is not used.
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-postgres: not root and no sudo" >&2; exit 1; }
  sudo="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive

bin_dir() {
  # The newest installed major version that has the server programs.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if ! bin_dir >/dev/null; then
  $sudo apt-get install -y -q postgresql >&2 || {
    $sudo apt-get update -q >&2 && $sudo apt-get install -y -q postgresql >&2; }
fi
bin_dir || { echo "install-postgres: postgresql installed but no initdb/postgres found" >&2; exit 1; }
