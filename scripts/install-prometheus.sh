#!/usr/bin/env bash
# Make promtool (Debian package prometheus) available and print its path.
#
# The collector's tests run the real `promtool check metrics` on kubeward's /metrics output.
# If promtool is already on PATH (or at /usr/bin/promtool) nothing is installed. Otherwise the
# Debian package is installed with apt-get (as root, or through `sudo -n` when available).
# Recommends are skipped: only the prometheus package itself is needed for promtool.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

found() {
  if command -v promtool >/dev/null 2>&1; then
    command -v promtool
  elif [ -x /usr/bin/promtool ]; then
    echo /usr/bin/promtool
  else
    return 1
  fi
}

if found; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-prometheus: promtool is missing, and installing the Debian package" \
      "'prometheus' needs root or sudo; install it, or set KUBEWARD_PROMTOOL to a promtool" >&2
    exit 1
  }
  sudo="sudo -n"
fi

$sudo apt-get install -y -q --no-install-recommends prometheus >&2 || {
  $sudo apt-get update -q >&2 && $sudo apt-get install -y -q --no-install-recommends prometheus >&2; }
found || { echo "install-prometheus: prometheus installed but no promtool found" >&2; exit 1; }
