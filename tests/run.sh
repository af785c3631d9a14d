#!/usr/bin/env bash
# The project's one test command: installs what the tests need, then runs the whole suite.
# Needs root (real sshd test hosts, mount and network namespaces) on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
if { ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; } || ! command -v sudo >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server openssh-client iproute2 sudo
fi
# Slurm (munge, slurmctld, slurmd) for tests/slurm, the node exporter and headless Chromium for tests/report.
# Where they cannot be installed, those tests skip and say why.
if { ! command -v slurmd >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmd ]; } || ! command -v srun >/dev/null 2>&1 \
   || ! command -v prometheus-node-exporter >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      slurmctld slurmd slurm-client munge prometheus-node-exporter chromium chromium-driver; } \
    || echo "tests/run.sh: could not install Slurm / node exporter / Chromium; their tests will skip" >&2
fi
python3 -m pip install -q -e '.[test]'
python3 -m ruff check .
exec python3 -m pytest -q "$@"
