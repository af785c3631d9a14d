import hashlib
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support importable

from tests.slurm.cluster import SlurmCluster  # noqa: E402 - importable once ROOT is on the path
from tests.support.testhost import TestHost  # noqa: E402

# -- Tiers ------------------------------------------------------------------------------------------------
# `python -m pytest -m "not slow"` is the tier to run while working: it needs nothing but this checkout
# (no root, sshd, Slurm or browser) and takes about a minute and a half on two busy cores. `bash
# tests/run.sh` runs everything. The markers are declared in pyproject.toml and set here from what each
# test uses, so test files need not.
#
# What a test needs, by the fixture that starts it (where the fixture is defined :: its name) ...
NEEDS_BY_FIXTURE = {
    "tests/hosts::fleet": ("sshd",),
    "tests/hosts/test_gateways_and_keys.py::hidden": ("sshd",),
    "tests/hosts/test_ssh_transport.py::sudo_host": ("sshd",),
    "tests/hosts/simulated_gpu::simulation_ready": ("root",),  # a private mount namespace
    "tests/fixes::host": ("sshd",),
    "tests/fixes/test_secrets_never_shown.py::secret_host": ("sshd",),
    "tests/fixes/test_shown_on_hosts.py::pam_host": ("sshd",),
    "tests/proof/test_proof_ssh.py::host": ("sshd",),
    "tests/proof/test_multinode.py::two_hosts": ("sshd",),
    "tests/proof/test_multinode_netns.py::fleet": ("sshd",),
    "tests/security/test_security_sshd_fix.py::host": ("sshd",),
    "tests/security/test_security_jupyter.py::seen": ("root",),  # a network namespace
    "tests/slurm::slurm_cluster": ("slurm",),
    "tests/report/test_html.py::browser": ("browser",),
}
# ... and by test (or test file), where the test starts it itself.
NEEDS_BY_TEST = {
    "tests/slurm/test_slurm_real.py::test_slurmd_runs_it_as_its_health_check_program": ("slurm",),
    "tests/security/test_security_sshd_T.py": ("root",),  # sshd -T in a private mount namespace
    "tests/security/test_security_hidepid.py::test_hidden_processes_make_no_server_unknown_for_a_non_root_probe":
        ("root",),
}
IMPLIES = {"sshd": ("root",), "slurm": ("root",)}  # the test hosts and the test cluster run as root
# Tests that need nothing but take seconds each: by test (parametrized ones included), test file or fixture.
SLOW = (
    # proof-runs on the CPU: torch trains in spawned worker processes
    "tests/proof/test_stage_cpu.py::cpu_run",  # a fixture: every test that uses it
    "tests/proof/test_cli_proof.py::test_json_is_one_document_and_allow_cpu_exits_0",
    "tests/proof/test_cli_proof.py::test_text_report_without_allow_cpu_fails",
    "tests/proof/test_cuda_simulation.py",
    "tests/proof/test_dataloader.py::test_measured_figures_per_batch_and_advice_from_them",
    "tests/proof/test_regressions.py::test_probe_reads_the_driver_cuda_version_through_the_driver_api",
    "tests/proof/test_second_reading.py::test_parent_never_imports_torch_and_keeps_every_final_result",
    "tests/proof/test_second_reading.py::test_ddp_replicas_end_with_the_same_parameters_and_momentum",
    "tests/proof/test_second_reading.py::test_a_collective_that_never_completes_is_named_within_its_bound",
    "tests/proof/test_second_reading.py::test_compile_without_a_compiler_is_unknown_not_a_failed_gpu",
    "tests/proof/test_second_reading.py::test_gpu_count_keeps_torchs_own_warning",
    "tests/proof/test_stage_cpu.py::test_dataloader_phase_runs_with_workers",
    "tests/proof/test_stage_cpu.py::test_proof_runs_with_an_interpreter_of_two_words",
    "tests/proof/test_stage_cpu.py::test_ddp_over_gloo_with_two_processes",
    "tests/proof/test_stage_cpu.py::test_controller_cuts_a_target_that_never_answers_and_says_so",
    "tests/proof/test_stage_cpu.py::test_compile_out_of_budget_is_unknown_not_a_failed_device",
    "tests/proof/test_stage_cpu.py::test_time_budget_bounds_the_run",
    "tests/proof/test_stage_cpu.py::test_watchdog_writes_the_result_when_the_parents_main_thread_hangs",
    "tests/proof/test_stage_cpu.py::test_deadline_ends_the_run_with_a_verdict_under_a_cpu_hog",
    "tests/proof/test_workers_cpu.py",
    "tests/test_payload.py::test_proof_script_trains_stand_alone_on_the_cpu",
    # the CLI in subprocesses, many times, under resource limits or on large inputs
    "tests/cli/test_check_from.py::test_saved_bundle_gives_the_same_diagnosis",
    "tests/hosts/test_interrupt_big_fleet.py",
    "tests/parsers/test_paste_and_signatures.py::test_huge_paste_is_read_in_bounded_amount",
    "tests/report/test_schema.py::test_cli_output_matches",
    "tests/security/test_redaction_linear.py",
    "tests/security/test_terminal_injection.py::test_play_diff_shows_a_files_escape_sequences",
    "tests/test_bundle_hostile.py::test_decompression_bomb_is_one_line_not_gigabytes",
    "tests/test_hostile_inputs_round2.py",
    # this machine, probed for real (torch imported in a child)
    "tests/checks/test_cuda_checks.py::test_this_machine_tells_the_plain_truth",
    "tests/cli/test_check_this_machine.py",
    "tests/parsers/test_container_docker.py::test_this_machine_docker_client_without_daemon",
    "tests/parsers/test_gpu_facts.py::test_this_machine_for_real",
    "tests/parsers/test_torch_facts.py::local_bundle",
    "tests/test_bottom_line_scenarios.py::test_this_machine_without_a_gpu_names_that_first",
    # builds and installs the wheel
    "tests/test_wheel.py",
)


def listed(nodeid: str, keys) -> list[str]:
    """The keys that name this test: its file, or the test itself (with or without parameters)."""
    return [k for k in keys if nodeid == k or nodeid.startswith((k + "::", k + "["))]


def _stale_keys() -> list[str]:
    """Keys of the tables above that name no test file, test or fixture (one that was moved or renamed
    would slip out of its tier without a word)."""
    stale = []
    for key in [*NEEDS_BY_FIXTURE, *NEEDS_BY_TEST, *SLOW]:
        path, _, name = key.partition("::")
        where = ROOT / path if path.endswith(".py") else ROOT / path / "conftest.py"
        if not where.is_file() or (name and not re.search(rf"^\s*def {name}\(", where.read_text(), re.M)):
            stale.append(key)
    return stale


def pytest_collection_modifyitems(config, items):
    stale = _stale_keys()
    if stale:
        raise pytest.UsageError(f"tests/conftest.py names tests or fixtures that do not exist: {', '.join(stale)}")
    for item in items:
        fixtures = {f"{defs[-1].baseid}::{name}" for name, defs in item._fixtureinfo.name2fixturedefs.items()}
        needs = {n for key in listed(item.nodeid, NEEDS_BY_TEST) for n in NEEDS_BY_TEST[key]}
        needs.update(n for key in fixtures for n in NEEDS_BY_FIXTURE.get(key, ()))
        needs.update(implied for n in list(needs) for implied in IMPLIES.get(n, ()))
        for need in sorted(needs):
            item.add_marker(need)
        if needs or listed(item.nodeid, SLOW) or fixtures & set(SLOW):
            item.add_marker("slow")


# A test that starts an sshd test host or the Slurm cluster without its marker would slip into the fast
# tier unseen: it fails at once instead, saying where to mark it.
_current: list = [None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _current[0] = item


def _marked(marker: str, start):
    def checked(self, *args, **kwargs):
        item = _current[0]
        if item is not None and item.get_closest_marker(marker) is None:
            raise AssertionError(f"{item.nodeid} starts {type(self).__name__} but is not marked `{marker}`: add "
                                 "its fixture to NEEDS_BY_FIXTURE (or the test to NEEDS_BY_TEST) in tests/conftest.py")
        return start(self, *args, **kwargs)

    return checked


def pytest_configure(config):
    TestHost.start = _marked("sshd", TestHost.start)
    SlurmCluster.__enter__ = _marked("slurm", SlurmCluster.__enter__)


def shm_size() -> int:
    st = os.statvfs("/dev/shm")
    return st.f_blocks * st.f_frsize


def etc_fingerprint() -> str:
    """Every entry of this machine's /etc by path, type, mode, size and mtime (cheap: no contents
    read; any write changes the mtime). Nothing is excluded: the tests write only inside test hosts'
    overlays, so any change here is a test that escaped."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk("/etc"):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            h.update(f"{p}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            if os.path.islink(p):
                # A write through a link (/etc/os-release -> /usr/lib/os-release) lands outside /etc,
                # in a file the test hosts share with this machine: fingerprint the target too.
                try:
                    t = os.stat(p)
                except OSError:
                    continue
                h.update(f"->{os.path.realpath(p)}\0{t.st_mode}\0{t.st_size}\0{t.st_mtime_ns}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="session", autouse=True)
def machine_unchanged():
    """The suite leaves this machine as it found it: the size of its /dev/shm and its /etc."""
    before = (shm_size(), etc_fingerprint())
    yield
    after = (shm_size(), etc_fingerprint())
    assert after[0] == before[0], f"the tests resized this machine's /dev/shm: {before[0]} -> {after[0]} bytes"
    assert after[1] == before[1], "the tests changed this machine's /etc (an entry's mode, size or mtime)"
