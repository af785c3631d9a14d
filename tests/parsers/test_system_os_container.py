"""OS/kernel/CPU/memory, WSL and container detection: the probe's real sections and pastes."""

import json
import os
import platform

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts.system import build_system_facts
from envdoctor.hosts.transport import LocalTransport
from envdoctor.parsers import container_detect, os_info
from tests.corpus import constructed_body, corpus_body


@pytest.fixture(scope="module")
def live_facts():
    with LocalTransport() as tr:
        return build_system_facts(gather(tr, no_torch=True))


def test_this_machine_os_kernel_cpu_memory(live_facts):
    assert live_facts.kernel == platform.release()
    assert live_facts.cpu_count == os.cpu_count()
    assert live_facts.mem_total_bytes == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") or \
        abs(live_facts.mem_total_bytes - os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) < 64 * 1024**2
    assert live_facts.os_name  # PRETTY_NAME of /etc/os-release
    assert live_facts.wsl is ("microsoft" in platform.release().lower())


def test_this_machine_container_markers_tell_the_truth(live_facts):
    expected = os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
    if expected:
        assert live_facts.in_container is True
        assert live_facts.container_kind == ("docker" if os.path.exists("/.dockerenv") else "podman")
        assert live_facts.container_evidence
    else:
        assert live_facts.in_container is not None


def test_kubepods_cgroup_constructed():
    det = container_detect.detect(constructed_body("system/container-markers-kubepods.txt"), None)
    assert (det.in_container, det.kind) == (True, "kubernetes")
    assert det.evidence[0].startswith("PID 1 cgroup: 12:memory:/kubepods/")


def test_environment_json_container_and_kubernetes():
    # constructed: the probe's environment section (JSON of selected variables)
    env = json.dumps({"container": "podman", "PATH": "/usr/bin"})
    assert container_detect.detect("", env).kind == "podman"
    env = json.dumps({"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    det = container_detect.detect("exists /.dockerenv\n", env)
    assert (det.kind, det.evidence) == ("kubernetes", ["/.dockerenv exists", "environment: KUBERNETES_SERVICE_HOST is set"])


def test_known_host_vs_unknown():
    # constructed: a host's markers section has only PID 1's root cgroup and its sched line
    det = container_detect.detect("cgroup1 0::/init.scope | \nsched1 systemd (1, #threads: 1)\n", "{}")
    assert det.in_container is False
    assert container_detect.detect(None, None).in_container is None
    f = build_system_facts(Bundle(pastes=[corpus_body("container-config/ulimit-a-hpc-memlock-64-ucx.txt")]))
    assert f.in_container is None


def test_pasted_cgroup_lines():
    # constructed: a pasted `cat /proc/1/cgroup` from a docker container on cgroup v1
    d = container_detect.scan_pasted_cgroup("12:devices:/docker/3f2a9c0d1e2b3c4d5e6f\n11:cpu:/docker/3f2a9c0d1e2b\n")
    assert (d.in_container, d.kind) == (True, "docker")


def test_uname_a_in_paste_and_coreos_kernel():
    f = build_system_facts(Bundle(pastes=[corpus_body(
        "errors/nvidia-container-cli-driver-error-failed-to-process-request-cuda-na.txt")]))
    assert f.kernel == "4.19.106-coreos"  # the first `uname -a` of the paste
    assert f.wsl is False


def test_wsl2_from_collect_env_platform_line():
    f = build_system_facts(Bundle(pastes=[corpus_body("collect-env/wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt")]))
    assert f.kernel == "5.15.153.1-microsoft-standard-WSL2"
    assert f.wsl is True
    assert f.os_name == "Ubuntu 22.04.4 LTS"


def test_non_wsl_from_libnvidia_container_debug_log():
    f = build_system_facts(Bundle(pastes=[corpus_body(
        "errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt")]))
    assert f.wsl is False
    assert "continuing assuming a non-WSL environment" in f.wsl_evidence[0]


def test_uname_srm_and_os_release_sections():
    b = Bundle(sections={"uname": Section(rc=0, stdout="Linux 6.8.0-71-generic x86_64\n"),
                         "os_release": Section(rc=0, stdout='NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 24.04.2 LTS"\n'),
                         "meminfo": Section(rc=0, stdout="MemTotal:       16318588 kB\n"),
                         "cpuinfo_count": Section(rc=0, stdout="2\n")})  # constructed sections
    f = build_system_facts(b)
    assert (f.kernel, f.os_name, f.mem_total_bytes, f.cpu_count, f.wsl) == (
        "6.8.0-71-generic", "Ubuntu 24.04.2 LTS", 16318588 * 1024, 2, False)
    assert os_info.parse_uname("Linux 5.15.90.1-microsoft-standard-WSL2 x86_64") == "5.15.90.1-microsoft-standard-WSL2"
