"""/dev/shm: df -k from the probe (vs os.statvfs), pasted df -h (corpus), /proc/mounts, bus errors."""

import os

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts.system import build_system_facts
from envdoctor.hosts.transport import LocalTransport
from envdoctor.parsers import shm
from tests.corpus import constructed_body, corpus_body

MiB, GiB = 1024**2, 1024**3


@pytest.fixture(scope="module")
def live_bundle():
    with LocalTransport() as tr:
        return gather(tr, no_torch=True)


def test_df_k_dev_shm_from_the_probe_matches_statvfs(live_bundle):
    st = os.statvfs("/dev/shm")
    f = build_system_facts(live_bundle)
    assert f.shm_source == "df -k /dev/shm"
    assert abs(f.shm_size_bytes - st.f_blocks * st.f_frsize) < 1024
    assert f.shm_evidence[0].endswith("/dev/shm")


def test_proc_mounts_size_matches_df_on_this_machine(live_bundle):
    r = shm.shm_from_mounts(live_bundle.get("mounts").stdout)
    f = build_system_facts(live_bundle)
    if r is None or r.size_bytes is None:
        pytest.skip("this machine's /dev/shm mount line has no size= option")
    assert r.size_bytes == f.shm_size_bytes


def test_df_h_container_64M_then_host_158G():
    body = corpus_body("container-config/df-h-dev-shm-container-64M-vs-host-bind.txt")
    rows = shm.shm_from_df(body, "pasted df")
    assert [(r.filesystem, r.size_bytes) for r in rows] == [("shm", 64 * MiB), ("tmpfs", 158 * GiB)]
    assert rows[0].used_bytes == 16 * 1024
    f = build_system_facts(Bundle(pastes=[body]))
    # two different sizes in one paste: the smaller one is weighed, both stay in the evidence
    assert f.shm_size_bytes == 64 * MiB and f.shm_filesystem == "shm"
    assert len(f.shm_evidence) == 2 and "158G" in f.shm_evidence[1]


def test_host_view_of_container_shm_mounts_is_not_this_dev_shm():
    body = corpus_body("container-config/df-host-view-of-container-shm-mounts.txt")
    f = build_system_facts(Bundle(pastes=[body]))
    assert f.shm_size_bytes is None
    assert len(f.container_shm_mounts) == 9
    assert all(r.size_bytes == 64 * MiB for r in shm.parse_df(body))


def test_proc_mounts_docker_shm_constructed():
    r = shm.shm_from_mounts(constructed_body("system/proc-mounts-docker-shm.txt"))
    assert (r.filesystem, r.size_bytes, r.source) == ("shm", 64 * MiB, "/proc/mounts")


def test_mounts_used_when_df_failed():
    b = Bundle(sections={"df_shm": Section(error="not-found"),
                         "mounts": Section(rc=0, stdout=constructed_body("system/proc-mounts-docker-shm.txt"))})
    f = build_system_facts(b)
    assert f.shm_size_bytes == 64 * MiB and f.shm_source == "/proc/mounts"


def test_human_sizes():
    assert shm.human_bytes("64M") == 64 * MiB
    assert shm.human_bytes("1.5G") == int(1.5 * GiB)
    assert shm.human_bytes("0") == 0
    assert shm.human_bytes("-") is None


@pytest.mark.parametrize("rel,first", [
    ("errors/dataloader-bus-error-missing-ipc-host.txt",
     "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm)."),
    ("errors/dataloader-bus-error-shm-jupyterhub.txt",
     "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm)."),
    ("errors/dataloader-bus-error-shm-mmsegmentation.txt",
     "**ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).**"),
])
def test_dataloader_bus_errors(rel, first):
    f = build_system_facts(Bundle(pastes=[corpus_body(rel)]))
    assert first.strip("*").split(". ")[0] in _shm_lines(rel)[0]
    assert f.shm_size_bytes is None  # the error says nothing about the size


def test_jupyterhub_also_catches_the_torch_shm_file_error():
    from envdoctor.parsers.signatures import scan_signatures
    seen = [x for x in scan_signatures(corpus_body("errors/dataloader-bus-error-shm-jupyterhub.txt")) if x.id == "shm_bus_error"]
    assert seen and "bus error" in seen[0].line  # and torch's "unable to write to file </torch_...>" after it


def test_mmsegmentation_killed_by_signal_line():
    lines = _shm_lines("errors/dataloader-bus-error-shm-mmsegmentation.txt")
    assert any("bus error" in line.lower() for line in lines)


def _shm_lines(rel: str) -> list[str]:
    """The lines the knowledge base recognised as shared memory running out (the check reports them)."""
    from envdoctor.diagnosis.host_facts import facts_from_bundle
    f = facts_from_bundle(Bundle(pastes=[corpus_body(rel)]))
    return [x.line for x in f.diagnosis.signatures if x.id == "shm_bus_error"]
