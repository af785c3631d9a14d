"""`envdoctor check --from`: diagnosis from a saved bundle or from pasted outputs, without touching
a machine. Pastes are real outputs from tests/data/corpus."""

import json
import sys

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from tests.corpus import corpus_body


def check_from(tmp_path, *bodies):
    p = tmp_path / "paste.txt"
    p.write_text("\n\n".join(bodies))
    r = CliRunner().invoke(main, ["check", "--json", "--from", str(p)])
    doc = json.loads(r.stdout)
    return r.exit_code, {c["id"]: c for c in doc["hosts"][0]["checks"]}


def test_driver_too_old_paste(tmp_path):
    rc, res = check_from(tmp_path, corpus_body("errors/torch-driver-too-old-11040-with-proc-version.txt"))
    assert rc == 1
    assert res["driver_cuda_compat"]["status"] == "fail"
    assert "11.4" in res["driver_cuda_compat"]["summary"]
    assert res["torch_cuda_available"]["status"] == "fail"
    assert "driver is too old" in res["torch_cuda_available"]["summary"]
    # Nothing in this paste speaks of /dev/shm, memlock or docker: unknown, never pass.
    for cid in ("shm_size", "memlock_limit", "docker_gpu_runtime", "throttling", "ecc_errors"):
        assert res[cid]["status"] == "unknown", (cid, res[cid])


def test_mismatch_paste_names_both_versions(tmp_path):
    rc, res = check_from(tmp_path, corpus_body("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"))
    r = res["nvml_version_mismatch"]
    assert rc == 1 and r["status"] == "fail"
    text = " ".join(r["evidence"]) + r["summary"] + (r["cause"] or "")
    assert "520.56.06" in text and "525.85.12" in text
    assert r["fix"]["manual"] is True


def test_mixed_paste_of_several_outputs(tmp_path):
    # The combination is constructed (one bug report holding several real outputs); each part is real.
    rc, res = check_from(tmp_path,
                         corpus_body("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt"),
                         corpus_body("container-config/ulimit-a-hpc-memlock-64-ucx.txt"),
                         corpus_body("container-config/df-h-dev-shm-container-64M-vs-host-bind.txt"),
                         corpus_body("errors/docker-could-not-select-device-driver-toolkit-missing.txt"))
    assert rc == 1
    assert res["torch_cuda_build"]["status"] == "fail"
    assert res["memlock_limit"]["status"] in ("warn", "fail")
    assert res["shm_size"]["status"] == "fail"
    assert res["container_toolkit"]["status"] == "fail"
    for r in res.values():
        if r["status"] in ("fail", "warn"):
            assert r["evidence"] and r["fix"], r


def test_paste_with_nothing_recognised_says_what_envdoctor_reads(tmp_path):
    p = tmp_path / "paste.txt"
    p.write_text("hello, my GPU does not work\n")
    r = CliRunner().invoke(main, ["check", "--from", str(p)])
    assert r.exit_code == 3, r.output  # evaluated: nothing
    assert "nothing envdoctor reads was recognised" in r.output and "collect_env" in r.output
    assert "[?]" not in r.output  # one line, not a page of unknowns


def test_paste_report_leads_with_the_root_cause_and_what_was_read_and_folds_unknowns(tmp_path):
    p = tmp_path / "paste.txt"
    p.write_text(corpus_body("errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt"))
    r = CliRunner().invoke(main, ["check", "--from", str(p)])
    lines = r.output.splitlines()
    assert r.exit_code == 1
    assert lines[1].startswith("  Root cause: driver_library_mismatch")
    head = lines[:lines.index("")]
    assert any(l.startswith("  Read: ") and "nvml_library_mismatch" in l for l in head)
    assert lines[lines.index("") + 1].lstrip().startswith("[✗] Root cause") and "root_cause" in lines[lines.index("") + 1]
    assert not any(l.lstrip().startswith("[?]") for l in lines)  # the no-evidence checks: in the folded line
    assert "with no evidence in the paste" in lines[-1]


def test_saved_bundle_gives_the_same_diagnosis(tmp_path):
    bundle = tmp_path / "ev.tar.gz"
    r = CliRunner().invoke(main, ["facts", "--bundle", str(bundle), "--python", sys.executable])
    assert r.exit_code == 0, r.output
    live = CliRunner().invoke(main, ["check", "--json", "--no-proof"])
    saved = CliRunner().invoke(main, ["check", "--json", "--from", str(bundle)])
    status = lambda out: {c["id"]: c["status"] for c in json.loads(out)["hosts"][0]["checks"]}  # noqa: E731
    assert status(saved.stdout) == status(live.stdout)
    assert saved.exit_code == live.exit_code


@pytest.mark.parametrize("content", [b"\x1f\x8b\x08garbage", b""])
def test_unreadable_input_is_not_a_crash(tmp_path, content):
    p = tmp_path / "weird.tar.gz"
    p.write_bytes(content)
    r = CliRunner().invoke(main, ["check", "--from", str(p)])
    assert r.exit_code in (0, 2), r.output
    assert "Traceback" not in r.output
