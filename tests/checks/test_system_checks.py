"""shm_size, memlock_limit and in_container on facts from real outputs (corpus, this machine) and
constructed facts (labelled)."""

import os
import resource

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import HostFacts, SystemFacts
from envdoctor.hosts.transport import LocalTransport
from envdoctor.models import Status
from tests.checks.support import paste, run
from tests.corpus import corpus_body

MiB, GiB = 1024**2, 1024**3


@pytest.fixture(scope="module")
def live():
    with LocalTransport() as tr:
        return facts_from_bundle(gather(tr, no_torch=True))


def constructed(**system):
    """constructed facts: only the given SystemFacts fields are known"""
    return HostFacts(system=SystemFacts(**system))


# --- shm_size -----------------------------------------------------------------------------------

def test_shm_64M_docker_default_fails():
    r = run("shm_size", paste("container-config/df-h-dev-shm-container-64M-vs-host-bind.txt"))
    assert r.status == Status.FAIL
    assert "64 MiB" in r.summary
    assert r.evidence[0].startswith("shm") and "64M" in r.evidence[0]
    assert any("--shm-size=8g" in c for c in r.fix.commands) and any("--ipc=host" in c for c in r.fix.commands)
    assert any("default-shm-size" in c for c in r.fix.commands)
    assert r.fix.playbook == "shm.yml"


@pytest.mark.parametrize("rel", ["errors/dataloader-bus-error-missing-ipc-host.txt",
                                 "errors/dataloader-bus-error-shm-jupyterhub.txt",
                                 "errors/dataloader-bus-error-shm-mmsegmentation.txt"])
def test_pasted_bus_error_fails_citing_it(rel):
    r = run("shm_size", paste(rel))
    assert r.status == Status.FAIL
    assert "Unexpected bus error encountered in worker" in r.evidence[0]
    assert r.cause_id == "shm_too_small" and r.fix.playbook == "shm.yml"


def test_bus_error_with_df_cites_both():
    r = run("shm_size", paste("errors/dataloader-bus-error-missing-ipc-host.txt",
                                       "container-config/df-h-dev-shm-container-64M-vs-host-bind.txt"))
    assert r.status == Status.FAIL and "/dev/shm is 64 MiB" in r.summary
    assert "Docker's 64 MiB default" in r.cause


def test_host_view_of_container_mounts_is_unknown_for_this_host():
    r = run("shm_size", paste("container-config/df-host-view-of-container-shm-mounts.txt"))
    assert r.status == Status.UNKNOWN
    assert any("/mounts/shm" in e for e in r.evidence)


def test_shm_unknown_without_evidence():
    r = run("shm_size", paste("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert r.status == Status.UNKNOWN and "not collected: df -k /dev/shm" in r.evidence


def test_shm_small_on_host_warns_and_threshold_is_capped_by_ram():
    # constructed: a host with 1 GiB /dev/shm and 64 GiB RAM -> warn below 8 GiB
    r = run("shm_size", constructed(shm_size_bytes=GiB, mem_total_bytes=64 * GiB, in_container=False,
                                             shm_evidence=["tmpfs 1048576 0 1048576 0% /dev/shm"]))
    assert r.status == Status.WARN and "8.0 GiB" in r.summary
    assert any("mount -o remount,size=8G /dev/shm" in c for c in r.fix.commands)
    # constructed: 4 GiB RAM, 2 GiB /dev/shm (the tmpfs default of half of RAM) -> pass
    r = run("shm_size", constructed(shm_size_bytes=2 * GiB, mem_total_bytes=4 * GiB, in_container=False))
    assert r.status == Status.PASS


def test_shm_64M_on_a_known_host_only_warns():
    # constructed: the 64 MiB fail is docker's default; on a host it is just small
    r = run("shm_size", constructed(shm_size_bytes=64 * MiB, mem_total_bytes=64 * GiB, in_container=False))
    assert r.status == Status.WARN


def test_shm_this_machine_tells_the_truth(live):
    st = os.statvfs("/dev/shm")
    size = st.f_blocks * st.f_frsize
    r = run("shm_size", live)
    need = min(8 * GiB, live.system.mem_total_bytes // 2)
    if size <= 64 * MiB and live.system.in_container:
        assert r.status == Status.FAIL
    elif size < need:
        assert r.status == Status.WARN
    else:
        assert r.status == Status.PASS
    assert r.evidence and r.evidence[0].endswith("/dev/shm")


# --- memlock_limit ------------------------------------------------------------------------------

def test_memlock_64_kib_warns():
    r = run("memlock_limit", paste("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert r.status == Status.WARN
    assert "soft 64 KiB" in r.summary and "ulimit -a" in r.summary
    assert r.evidence == ["max locked memory       (kbytes, -l) 64"]
    assert "Linux 5.16" in r.cause and r.fix.playbook == "memlock.yml"


def test_memlock_ulimit_l_64_mib_in_container_mentions_docker_ulimit():
    f = paste("container-config/ulimit-l-container-65536-gardenlinux.txt")
    r = run("memlock_limit", f)
    assert r.status == Status.WARN and "soft 64 MiB" in r.summary
    assert any("--ulimit memlock=-1" in c for c in r.fix.commands)  # container unknown: advice included


def test_memlock_ibv_error_fails():
    r = run("memlock_limit", paste("errors/nccl-ibv-create-qp-failed-unhandled-system-error.txt"))
    assert r.status == Status.FAIL
    assert r.evidence[0] == "machine [0] misc/ibvwrap.cu:269 WARN Call to ibv_create_qp failed"
    assert "ulimit -l" in r.cause


def test_memlock_ibv_error_with_64_kib_fails_naming_the_limit():
    r = run("memlock_limit", paste("errors/nccl-ibv-create-qp-failed-unhandled-system-error.txt",
                                            "container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert r.status == Status.FAIL and "soft 64 KiB" in r.summary
    assert r.cause_id == "memlock_too_low" and "too low" in r.cause


def test_memlock_only_hard_unlimited_is_unknown():
    r = run("memlock_limit", paste("container-config/ulimit-Ha-host-memlock-unlimited-systemd.txt"))
    assert r.status == Status.UNKNOWN


def test_memlock_both_unlimited_passes():
    r = run("memlock_limit", paste("container-config/ulimit-a-hpc-memlock-64-ucx.txt",
                                            "container-config/ulimit-Ha-host-memlock-unlimited-systemd.txt"))
    assert r.status == Status.WARN  # soft 64 KiB, hard unlimited: the soft limit is what NCCL gets
    # constructed: both unlimited
    r = run("memlock_limit", constructed(memlock_soft_bytes=-1, memlock_hard_bytes=-1))
    assert r.status == Status.PASS


def test_memlock_unknown():
    r = run("memlock_limit", paste("errors/dataloader-bus-error-missing-ipc-host.txt"))
    assert r.status == Status.UNKNOWN


def test_memlock_this_machine_matches_getrlimit(live):
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    r = run("memlock_limit", live)
    if soft == hard == resource.RLIM_INFINITY:
        assert r.status == Status.PASS
    elif live.diagnosis.rdma_devices == []:  # a low limit costs nothing without an RDMA device
        assert r.status == Status.PASS and "no RDMA (InfiniBand/RoCE) device" in r.summary
    else:
        assert r.status == Status.WARN
        assert r.evidence[0].startswith("Max locked memory")
        if live.system.in_container:
            assert any("--ulimit memlock=-1" in c for c in r.fix.commands)


LIMITS_8M = ("Limit                     Soft Limit           Hard Limit           Units\n"
             "Max locked memory         8388608              8388608              bytes\n")


def memlock_bundle(tmp_path, rdma: str | None):
    """Constructed: the probe's /proc/self/limits (the 8 MiB default of Linux >= 5.16) and, unless None, its
    listing of /sys/class/infiniband, saved as a bundle for `check --from`."""
    sections = {"limits": Section(cmd="cat /proc/self/limits", rc=0, stdout=LIMITS_8M)}
    if rdma is not None:
        sections["infiniband"] = Section(cmd="ls /sys/class/infiniband", rc=0, stdout=rdma)
    Bundle(sections=sections).save(tmp_path / "b")
    return str(tmp_path / "b")


@pytest.mark.parametrize("rdma, mark, says", [
    ("", "[✓]", "which is fine here: no RDMA (InfiniBand/RoCE) device"),  # a desktop, a default container
    ("mlx5_0\nmlx5_1\n", "[!]", "NCCL/RDMA over InfiniBand or RoCE needs unlimited"),
    (None, "[!]", "NCCL/RDMA over InfiniBand or RoCE needs unlimited"),  # not known whether RDMA is there
])
def test_memlock_is_judged_by_whether_the_host_has_rdma(tmp_path, rdma, mark, says):
    out = CliRunner().invoke(main, ["check", "--from", memlock_bundle(tmp_path, rdma), "-v"]).output
    line = next(ln for ln in out.splitlines() if "(memlock_limit)" in ln)
    assert line.strip().startswith(mark) and says in line and "soft 8 MiB, hard 8 MiB" in line, out


# --- in_container -------------------------------------------------------------------------------

def test_in_container_this_machine(live):
    r = run("in_container", live)
    assert r.status == Status.PASS
    if os.path.exists("/.dockerenv"):
        assert "inside a docker container" in r.summary and "/.dockerenv exists" in r.evidence


def test_in_container_unknown_from_a_paste_without_markers():
    r = run("in_container", paste("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert r.status == Status.UNKNOWN


def test_in_container_host_and_wsl():
    # constructed facts: a WSL2 host, not in a container
    r = run("in_container", constructed(in_container=False, wsl=True))
    assert r.status == Status.PASS and "on the host" in r.summary and "WSL" in r.summary


def test_one_bug_report_with_several_real_outputs():
    # the concatenation is ours; each block is a real corpus output
    text = "\n".join(corpus_body(r) for r in ("errors/dataloader-bus-error-shm-mmsegmentation.txt",
                                              "container-config/ulimit-a-new-bash-format-memlock.txt",
                                              "container-config/df-h-dev-shm-container-64M-vs-host-bind.txt",
                                              "container-config/docker-info-nvidia-runtime-registered-not-default.txt"))
    f = facts_from_bundle(Bundle(pastes=[text]))
    assert f.system.memlock_soft_bytes == 5128731 * 1024
    assert f.system.shm_size_bytes == 64 * MiB and any(x.id == "shm_bus_error" for x in f.diagnosis.signatures)
    assert f.container.docker_runtimes == ["io.containerd.runc.v2", "nvidia", "runc"]
    statuses = {cid: run(cid, f).status for cid in ("shm_size", "memlock_limit", "docker_gpu_runtime",
                                                            "container_toolkit", "in_container")}
    assert statuses == {"shm_size": Status.FAIL, "memlock_limit": Status.WARN, "docker_gpu_runtime": Status.PASS,
                        "container_toolkit": Status.UNKNOWN, "in_container": Status.UNKNOWN}
