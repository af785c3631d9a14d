#!/usr/bin/env bash
# The project's one test command: installs what the tests need, then runs the whole suite.
# Needs root (real sshd test hosts, mount and network namespaces) on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
if { ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; } || ! command -v sudo >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server openssh-client iproute2 sudo
fi
python3 -m pip install -q -e '.[test]'
exec python3 -m pytest -q "$@"
