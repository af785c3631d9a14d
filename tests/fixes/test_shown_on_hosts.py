"""Shown, not assumed: fixes that take a failing check to a pass on a real test host, verified by
`envdoctor fix`'s own re-check (a fresh probe over a new SSH login)."""

import json

import pytest

from tests.corpus import corpus_body
from tests.fixes.conftest import Host, can_run_hosts
from tests.support.testhost import TestHost

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")


def can_raise_hard_limits() -> bool:
    """CAP_SYS_RESOURCE (bit 24) in this process's effective set: needed by pam_limits (as root) to raise
    a hard limit above the one sshd started with. Containers commonly drop it."""
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


@pytest.fixture
def pam_host(tmp_path):
    # sshd with PAM, started with a 64 KiB soft locked-memory limit: a login gets what the host's
    # /etc/security/limits.d then says (pam_limits), as on a real server. It shows an RDMA device
    # (constructed: mlx5_0 in its own /sys/class/infiniband), where that limit matters.
    h = TestHost(tmp_path / "pam", alias="fixhost", isolated=True, pam=True, memlock_kib=64,
                 rdma_devices=("mlx5_0",)).start()
    try:
        yield Host(h)
    finally:
        h.stop()


def login_memlock(host) -> tuple[str, str]:
    import subprocess

    r = subprocess.run(["ssh", "-F", str(host.h.ssh_config), "-o", f"UserKnownHostsFile={host.h.known_hosts}",
                        "-o", "BatchMode=yes", host.name, "ulimit -Sl; ulimit -Hl"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    soft, hard = r.stdout.split()
    return soft, hard


def test_memlock_matters_on_a_host_that_shows_an_rdma_device(pam_host, tmp_path):
    """The premise of the memlock fix test, shown where it can be (no capability needed): the same 64 KiB
    limit passes, with its reason, on a host without RDMA devices and warns, with memlock.yml, on one
    that shows mlx5_0 (constructed)."""
    def memlock_text(host) -> str:
        r = host.envdoctor("check", *host.args(), "--no-proof", "--only", "memlock_limit", "-v")
        line = next(ln for ln in r.stdout.splitlines() if ln.strip().endswith("(memlock_limit)"))
        return line + "\n" + r.stdout

    plain = TestHost(tmp_path / "plain", alias="plainhost", isolated=True, pam=True, memlock_kib=64).start()
    try:
        out = memlock_text(Host(plain))
    finally:
        plain.stop()
    assert out.lstrip().startswith("[✓]") and "soft 64 KiB" in out and "no RDMA" in out, out
    out = memlock_text(pam_host)
    assert out.lstrip().startswith("[!]") and "soft 64 KiB" in out and "playbook: memlock.yml" in out, out


NO_PAM_LIMITS = ("this machine drops CAP_SYS_RESOURCE (hard limits cannot be raised) and pam_limits was seen not "
                 "to take effect for logins here; the memlock fix cannot be shown going to pass on it")


@pytest.mark.skipif(not can_raise_hard_limits(), reason=NO_PAM_LIMITS)
def test_a_pam_login_reads_the_hosts_limits_d(pam_host):
    soft, hard = login_memlock(pam_host)
    pam_host.sh("printf '* soft memlock 32\\nroot soft memlock 32\\n' > /etc/security/limits.d/50-test.conf")
    assert login_memlock(pam_host) == ("32", hard)  # a new login reads the namespace's limits.d


@pytest.mark.skipif(not can_raise_hard_limits(), reason=NO_PAM_LIMITS)
def test_memlock_fix_goes_from_warn_to_pass_on_a_new_login(pam_host):
    pam_host.install_fake_systemctl()
    r = pam_host.envdoctor("check", *[a for a in pam_host.args() if a != "--no-torch"], "--no-proof", "--json")
    before = {c["id"]: c["status"] for c in json.loads(r.stdout)["hosts"][0]["checks"]}
    assert before["memlock_limit"] in ("warn", "fail")
    r = pam_host.envdoctor("fix", *pam_host.args(), "--yes", "--include-warn", "--json")
    h = json.loads(r.stdout)["hosts"][0]
    assert "memlock.yml" in h["playbooks"], h
    assert h["verify"]["memlock_limit"] == "pass", h["verify"]
    assert login_memlock(pam_host) == ("unlimited", "unlimited")


# constructed: stands in for nvidia-smi on a test host (no GPU here): prints a real recorded table
# (tests/data/corpus/nvidia-smi-table/titan-xp-450.57.txt: driver 450.57, CUDA 11.0) and fails otherwise
FAKE_SMI = """#!/bin/sh
if [ "$#" -eq 0 ]; then cat /usr/local/share/envdoctor-test/nvidia-smi.txt; exit 0; fi
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9
"""


def test_cuda_switch_fix_points_everything_at_the_toolkit_the_driver_runs(host):
    h = host
    h.sh("mkdir -p /usr/local/share/envdoctor-test && "
         f"cat > /usr/local/share/envdoctor-test/nvidia-smi.txt <<'EOF'\n"
         f"{corpus_body('nvidia-smi-table/titan-xp-450.57.txt')}EOF\n"
         f"cat > /usr/local/bin/nvidia-smi <<'EOF'\n{FAKE_SMI}EOF\nchmod 755 /usr/local/bin/nvidia-smi")
    # Toolkits this machine itself has are hidden in the host (whiteouts in its /usr/local overlay only).
    h.sh("for d in /usr/local/cuda*; do [ -e \"$d\" ] && rm -rf \"$d\"; done; "
         "rm -f /usr/local/bin/nvcc")
    # constructed: two toolkit trees; /usr/local/cuda and CUDA_HOME name 12.4, which this driver (CUDA 11.0)
    # cannot run
    h.sh("for v in 11.0.3 12.4.1; do d=/usr/local/cuda-${v%.*}; mkdir -p $d/bin $d/lib64 && "
         "echo \"{\\\"cuda\\\": {\\\"version\\\": \\\"$v\\\"}}\" > $d/version.json; done && "
         "rm -rf /usr/local/cuda && ln -s /usr/local/cuda-12.4 /usr/local/cuda && "
         "echo 'export CUDA_HOME=/usr/local/cuda-12.4' > /etc/profile.d/cuda.sh")
    # The interpreter as a login starts it: /etc/profile (and so profile.d) first.
    h.sh("printf '#!/bin/sh\\n. /etc/profile\\nexec /usr/bin/python3 \"$@\"\\n' > /usr/local/bin/python3-login && "
         "chmod 755 /usr/local/bin/python3-login")
    args = [a if a != "/usr/bin/python3" else "/usr/local/bin/python3-login" for a in h.args()]
    r = h.envdoctor("check", *[a for a in args if a != "--no-torch"], "--no-proof", "--json")
    assert r.stdout.startswith("{"), r.stderr
    checks = {c["id"]: c for c in json.loads(r.stdout)["hosts"][0]["checks"]}
    assert checks["cuda_toolkits"]["status"] == "fail", checks["cuda_toolkits"]
    assert "CUDA_HOME=/usr/local/cuda-12.4" in checks["cuda_toolkits"]["evidence"]
    r = h.envdoctor("fix", *args, "--yes", "--json")
    doc = json.loads(r.stdout)["hosts"][0]
    assert "cuda-switch.yml" in doc["playbooks"], doc
    r2 = h.envdoctor("check", *[a for a in args if a != "--no-torch"], "--no-proof", "--json")
    after = {c["id"]: c for c in json.loads(r2.stdout)["hosts"][0]["checks"]}["cuda_toolkits"]
    assert doc["verify"]["cuda_toolkits"] == "pass", (doc["verify"], [t["msg"] for t in doc["apply"]["tasks"]], after)
    assert h.sh("readlink /usr/local/cuda").strip() == "/usr/local/cuda-11.0"
    assert h.sh(". /etc/profile && echo $CUDA_HOME").strip() == "/usr/local/cuda"
