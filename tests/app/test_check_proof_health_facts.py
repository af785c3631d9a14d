"""The check, proof, health and facts use cases (envdoctor/app/): typed Reports from the ways hosts are
reached, and the CLI showing what they hold. Evidence is read from the corpus, SSH targets are a port
nothing listens on, Slurm is not asked: nothing on the machine is changed."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from envdoctor.app.check import GoldenNotFound, check_evidence, known_golden, run_check
from envdoctor.app.facts import collect, raw_sections
from envdoctor.app.health import NodeHealth
from envdoctor.app.proof import MultiNodeJob, ProofRun, run_proofs
from envdoctor.app.reach import Reach, resolve_targets
from envdoctor.cli import main as cli
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.errors import UserError
from envdoctor.models import CheckResult, HostStatus, Status
from tests.corpus import CASES

CASE = sorted(CASES.glob("*/*.txt"))[0]
SSH = {"connect_timeout": 1.0, "known_hosts": None, "accept_new_host_keys": False, "become": False,
       "become_password": None}


def _closed_ports(*ports: int) -> Reach:
    return Reach(resolve_targets([f"127.0.0.1:{p}" for p in ports]), ssh=SSH, quiet=True)


def test_two_pastes_of_one_name_are_two_hosts_named_by_their_paths(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(CASE, tmp_path / d / "nvidia.txt")
    paths = [tmp_path / "a" / "nvidia.txt", tmp_path / "b" / "nvidia.txt"]
    report = check_evidence(paths, load_catalog())
    assert [h.host for h in report.hosts] == [str(p) for p in paths]
    assert report.fleet is None and not report.interrupted
    shown = CliRunner().invoke(cli, ["check", "--from", str(paths[0]), "--from", str(paths[1])])
    assert str(paths[0]) in shown.output and str(paths[1]) in shown.output, shown.output


def test_ssh_hosts_that_cannot_be_reached_are_a_fleet_of_unreachable_reports():
    report = run_check(_closed_ports(1, 2), load_catalog())
    assert [h.status for h in report.hosts] == [HostStatus.UNREACHABLE] * 2
    assert report.fleet is not None  # two hosts: a fleet, measured for drift
    one = run_check(_closed_ports(1), load_catalog())
    assert one.fleet is None and "connection refused" in one.hosts[0].error


def test_a_golden_host_not_among_the_targets_is_refused_before_any_connection():
    with pytest.raises(GoldenNotFound, match="'zz' is not one of the targets"):
        known_golden("zz", ["gpu01", "gpu02"], "targets")
    known_golden(None, [], "targets")
    res = CliRunner().invoke(cli, ["check", "--golden", "zz", "127.0.0.1:1", "--connect-timeout", "1"])
    assert res.exit_code == 2 and "Error: --golden 'zz' is not one of the targets" in res.output, res.output
    assert "unreachable" not in res.output  # refused before connecting


def test_a_proof_on_a_host_that_cannot_be_reached_is_its_error_and_exit_3():
    report = run_proofs(_closed_ports(1), ProofRun(device="cpu", allow_cpu=True, time_budget=30))
    assert report.hosts[0].status == HostStatus.UNREACHABLE
    assert report.hosts[0].proof.status == Status.ERROR
    res = CliRunner().invoke(cli, ["proof", "127.0.0.1:1", "--connect-timeout", "1"])
    assert res.exit_code == 3 and "proof-run error" in res.output and "connection refused" in res.output, res.output


def test_a_multi_node_job_needs_two_hosts_and_the_processes_per_gpu_host():
    with pytest.raises(UserError, match="at least two TARGETs"):
        run_proofs(_closed_ports(1), ProofRun(), MultiNodeJob())
    with pytest.raises(UserError, match="--gpus-per-node"):
        run_proofs(_closed_ports(1, 2), ProofRun(device="cuda"), MultiNodeJob())


def test_facts_of_a_paste_keep_the_paste_in_the_raw_view():
    bundle = collect(Reach.local(), CASE)
    raw = raw_sections(bundle)
    assert raw.get("pastes") == bundle.pastes and bundle.pastes


def test_health_exit_codes_read_from_what_it_found():
    fail = CheckResult(id="shm_size", title="shm", status=Status.FAIL, summary="too small")
    assert NodeHealth("n1", error="probe timed out").exit_code == 3  # not diagnosed: not drained
    assert NodeHealth("n1", problems=[fail]).exit_code == 1
    assert NodeHealth("n1", not_drained=[fail]).exit_code == 0  # a GPU check on a CPU node
