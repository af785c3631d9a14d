"""Memlock limits: /proc/self/limits (probe), pasted ulimit -a/-Ha/-l (corpus), RDMA errors."""

import resource

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts.system import build_system_facts
from envdoctor.hosts.transport import LocalTransport
from envdoctor.parsers import limits
from envdoctor.parsers.signatures import scan_signatures
from tests.corpus import corpus_body

KiB = 1024


@pytest.fixture(scope="module")
def live_bundle():
    with LocalTransport() as tr:
        return gather(tr, no_torch=True)


def _rlimit(v):
    return -1 if v == resource.RLIM_INFINITY else v


def test_proc_self_limits_from_the_probe_matches_getrlimit(live_bundle):
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    f = build_system_facts(live_bundle)
    assert f.memlock_source == "/proc/self/limits"
    assert (f.memlock_soft_bytes, f.memlock_hard_bytes) == (_rlimit(soft), _rlimit(hard))
    assert f.memlock_evidence[0].startswith("Max locked memory")


def test_parse_proc_limits_every_row_on_this_machine(live_bundle):
    rows = limits.parse_proc_limits(live_bundle.get("limits").stdout)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert rows["Max open files"][:2] == (_rlimit(soft), _rlimit(hard))
    assert rows["Max locked memory"][2] == "bytes"
    assert "Max nice priority" in rows  # the row without a unit column


def test_ulimit_a_hpc_64_kib_soft():
    r = limits.scan_ulimit(corpus_body("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert (r.soft, r.hard) == (64 * KiB, None)
    assert r.source == "ulimit -a"
    assert r.lines == ["max locked memory       (kbytes, -l) 64"]


def test_ulimit_a_new_bash_layout():
    r = limits.scan_ulimit(corpus_body("container-config/ulimit-a-new-bash-format-memlock.txt"))
    assert r.soft == 5128731 * KiB and r.hard is None


def test_ulimit_Ha_is_the_hard_limit_unlimited():
    r = limits.scan_ulimit(corpus_body("container-config/ulimit-Ha-host-memlock-unlimited-systemd.txt"))
    assert (r.soft, r.hard) == (None, limits.UNLIMITED)
    assert r.source == "ulimit -Ha"


def test_ulimit_l_is_kib():
    f = build_system_facts(Bundle(pastes=[corpus_body("container-config/ulimit-l-container-65536-gardenlinux.txt")]))
    assert f.memlock_soft_bytes == 65536 * KiB == 64 * 1024**2
    assert f.memlock_hard_bytes is None
    assert f.memlock_evidence == ["$ ulimit -l", "65536"]


def test_soft_and_hard_combined_from_two_pastes():
    f = build_system_facts(Bundle(pastes=[corpus_body("container-config/ulimit-a-hpc-memlock-64-ucx.txt"),
                                          corpus_body("container-config/ulimit-Ha-host-memlock-unlimited-systemd.txt")]))
    assert (f.memlock_soft_bytes, f.memlock_hard_bytes) == (64 * KiB, -1)


def test_nccl_ibv_create_qp_error_is_seen():
    f = build_system_facts(Bundle(pastes=[corpus_body("errors/nccl-ibv-create-qp-failed-unhandled-system-error.txt")]))
    assert f.memlock_soft_bytes is None  # the limit itself was not pasted
    seen = [x for x in scan_signatures(corpus_body("errors/nccl-ibv-create-qp-failed-unhandled-system-error.txt"))
            if x.id == "memlock_rdma_error"]
    assert seen and "ibv_create_qp failed" in seen[0].line  # the knowledge base's, which the check reports


def test_unhandled_system_error_alone_is_not_blamed_on_memlock():
    # constructed: NCCL's generic error without any verbs failure
    assert not [x for x in scan_signatures("NCCL error in: ... unhandled system error, NCCL version 2.18.1")
                if x.id == "memlock_rdma_error"]


def test_zsh_ulimit_layout():
    # constructed: zsh's `ulimit -a` line format
    r = limits.scan_ulimit("-l: locked-in-memory size (kbytes) unlimited\n")
    assert r.soft == -1


def test_paste_without_limits_is_unknown():
    f = build_system_facts(Bundle(pastes=[corpus_body("errors/dataloader-bus-error-missing-ipc-host.txt")]))
    assert f.memlock_soft_bytes is None and f.memlock_hard_bytes is None and f.memlock_source is None


def test_pasted_proc_limits_reads_like_the_section(live_bundle):
    # this machine's real /proc/self/limits, handed in as a paste instead of a probe section
    text = live_bundle.get("limits").stdout
    f_paste = build_system_facts(Bundle(pastes=["$ cat /proc/self/limits\n" + text]))
    f_probe = build_system_facts(live_bundle)
    assert (f_paste.memlock_soft_bytes, f_paste.memlock_hard_bytes) == (f_probe.memlock_soft_bytes,
                                                                        f_probe.memlock_hard_bytes)
    assert f_paste.memlock_source == "/proc/self/limits"
