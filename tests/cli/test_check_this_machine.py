"""`envdoctor check` run for real on this machine (no NVIDIA GPU, no driver; torch installed), compared
with what Python and torch themselves say."""

import json
import os
import resource
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def run_check():
    res = subprocess.run([sys.executable, "-m", "envdoctor", "check", "--json", "--no-proof"], capture_output=True,
                         text=True, timeout=300)
    return res


@pytest.fixture(scope="module")
def facts():
    res = subprocess.run([sys.executable, "-m", "envdoctor", "facts"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def has_nvidia_gpu() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or torch.cuda.is_available()


@pytest.mark.skipif(has_nvidia_gpu(), reason="this test states the truth of a machine without an NVIDIA GPU")
def test_check_says_this_machine_cannot_train_on_a_gpu(run_check):
    assert run_check.returncode == 1, run_check.stderr  # a failed check
    doc = json.loads(run_check.stdout)  # stdout holds one JSON document and nothing else
    host = doc["hosts"][0]
    assert host["host"] == socket.gethostname() and host["local"] and host["status"] == "fail"  # not "localhost"
    res = {c["id"]: c for c in host["checks"]}
    assert res["gpu_present"]["status"] == "fail"
    assert res["torch_cuda_available"]["status"] == "fail"
    # No NVIDIA Container Toolkit here: never reported as a pass.
    assert res["container_toolkit"]["status"] != "pass"
    for c in host["checks"]:
        assert c["status"] in ("pass", "warn", "fail", "unknown", "skip"), c  # no check crashed


@pytest.mark.skipif(has_nvidia_gpu(), reason="machine without an NVIDIA GPU")
def test_human_report_gives_verdict():
    res = subprocess.run([sys.executable, "-m", "envdoctor", "check", "--no-proof"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 1
    assert "cannot train on a GPU" in res.stdout
    assert "\x1b[" not in res.stdout  # no colour when not on a terminal
    assert "✗" in res.stdout and "Summary:" in res.stdout


def test_torch_facts_match_torch(facts):
    t = facts["torch"]
    assert t["installed"] is True
    assert t["version"] == torch.__version__
    assert t["cuda_build"] == torch.version.cuda
    assert t["is_available"] == torch.cuda.is_available()
    assert t["arch_list"] == torch.cuda.get_arch_list()


def test_limits_and_shm_match_the_os(facts):
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    as_bytes = lambda v: -1 if v == resource.RLIM_INFINITY else v  # noqa: E731
    assert facts["system"]["memlock_soft_bytes"] == as_bytes(soft)
    assert facts["system"]["memlock_hard_bytes"] == as_bytes(hard)
    st = os.statvfs("/dev/shm")
    assert abs(facts["system"]["shm_size_bytes"] - st.f_blocks * st.f_frsize) < 1024 * 1024


@pytest.mark.skipif(has_nvidia_gpu(), reason="machine without an NVIDIA GPU")
def test_proof_stage_is_skipped_with_the_reason():
    res = subprocess.run([sys.executable, "-m", "envdoctor", "check", "--json"], capture_output=True, text=True,
                         timeout=300)
    host = json.loads(res.stdout)["hosts"][0]
    assert host["proof"]["status"] == "skip"
    assert "is_available() is False" in host["proof"]["reason"]
    assert host["status"] == "fail" and res.returncode == 1


def test_proof_verdict_folds_into_host_status():
    from envdoctor.diagnosis.conclusion import status_with_proof
    from envdoctor.models import HostStatus as H

    assert status_with_proof(H.PASS, "fail") == H.FAIL
    assert status_with_proof(H.PASS, "warn") == H.WARN
    assert status_with_proof(H.FAIL, "warn") == H.FAIL
    assert status_with_proof(H.PASS, "skip") == H.PASS
    assert status_with_proof(H.PASS, "error") == H.UNKNOWN
    assert status_with_proof(H.WARN, "unknown") == H.WARN
    assert status_with_proof(H.UNREACHABLE, "fail") == H.UNREACHABLE
