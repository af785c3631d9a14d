"""The report's first and last lines on the shapes issue 16 found them wrong on: a CPU wheel with CUDA
failing, a data-center GPU running a newer CUDA through forward compatibility, a failed check with no
known cause, a machine with no GPU. Inputs under tests/data/constructed/ say they are constructed."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.diagnosis.conclusion import conclude
from envdoctor.facts import HostFacts
from envdoctor.models import CheckResult, Status, TrainingVerdict
from envdoctor.parsers.python_session import session_values
from tests.corpus import constructed_body, diagnose_paste

CHECKS = load_catalog()


def test_cpu_wheel_at_a_prompt_with_cuda_999_cannot_train():
    _, failing, h = diagnose_paste(constructed_body("paste/cpu-wheel-prompt-is-available-false-999.txt"), CHECKS)
    assert h.root_cause.cause_id == "torch_cpu_only_build" and h.root_cause.state == "established"
    assert h.checks[0].id == "root_cause" and h.checks[0].status == Status.FAIL
    assert "torch_cuda_available" in failing
    assert h.bottom_line.verdict == TrainingVerdict.CANNOT_TRAIN and h.bottom_line.cuda == "fails"
    assert h.status.value == "fail"


def test_cuda_999_alone_is_a_failure_whose_cause_is_only_most_likely():
    """Torch's "Setting the available devices to be zero" is CUDA failing (observed); error 999 alone does not
    settle why, so the root cause is a warning with its rivals and the commands that tell them apart."""
    text = ("UserWarning: CUDA initialization: CUDA unknown error - this may be due to an incorrectly set up "
            "environment, e.g. changing env variable CUDA_VISIBLE_DEVICES after program start. Setting the "
            "available devices to be zero.\n")
    _, failing, h = diagnose_paste(text, CHECKS)
    assert h.bottom_line.cuda == "fails" and h.bottom_line.verdict == TrainingVerdict.CANNOT_TRAIN
    assert h.root_cause.status == Status.WARN and h.root_cause.confidence.value in ("medium", "low")
    assert len(h.root_cause.candidates) >= 2 and h.root_cause.tell_apart
    assert "torch_cuda_available" in failing


def test_forward_compat_on_datacenter_gpus_is_a_note_not_a_failure():
    _, failing, h = diagnose_paste(constructed_body("paste/collect-env-a100-driver-470-cu121-available.txt"), CHECKS)
    assert failing == []
    assert h.root_cause.status != Status.FAIL and h.root_cause.cause_id != "driver_too_old"
    assert any("forward-compatibility" in n for n in h.root_cause.notes)
    assert h.bottom_line.cuda == "works"
    assert h.bottom_line.verdict in (TrainingVerdict.READY, TrainingVerdict.CAN_TRAIN_WITH_WARNINGS)


def test_a_failed_check_without_a_cause_leaves_the_root_cause_undetermined_not_passed():
    failed = CheckResult(id="site_check", title="a site's check", status=Status.FAIL, summary="it fails")
    root_line = CheckResult(id="root_cause", title="Root cause", status=Status.PASS, summary="placeholder")
    c = conclude(HostFacts(sources=["probe"]), [root_line, failed])
    assert c.root.state == "undetermined" and c.root.status == Status.WARN and "site_check" in c.root.title
    assert c.checks[0].id == "root_cause" and c.checks[0].status == Status.WARN
    assert c.bottom_line.verdict == TrainingVerdict.CANNOT_TRAIN and c.status.value == "fail"


def test_a_failed_check_names_its_cause_as_the_root_cause():
    failed = CheckResult(id="shm_size", title="shm", status=Status.FAIL, summary="64 MiB", cause_id="shm_too_small")
    c = conclude(HostFacts(sources=["probe"]), [failed])
    assert c.root.cause_id == "shm_too_small" and c.root.candidates[0].support == "observed"


def test_python_session_values():
    text = constructed_body("paste/cpu-wheel-prompt-is-available-false-999.txt")
    assert session_values(text) == {"version": "2.2.0+cpu", "is_available": False}
    assert session_values("In [3]: torch.version.cuda\n\nIn [4]: torch.cuda.device_count()\nOut[4]: 2\n") == {"device_count": 2}


def test_this_machine_without_a_gpu_names_that_first():
    """The live path on this machine: where the PCI bus holds no NVIDIA device, that is the root cause."""
    r = CliRunner().invoke(main, ["check", "--no-proof", "--json"])
    doc = json.loads(r.output)
    host = doc["hosts"][0]
    pci = next(c for c in host["checks"] if c["id"] == "gpu_present")
    if "no NVIDIA" not in " ".join(pci["evidence"]) and "no NVIDIA GPU" not in pci["summary"]:
        import pytest

        pytest.skip(f"this machine has an NVIDIA device: {pci['summary']}")
    assert list(host)[:2] == ["host", "root_cause"]
    assert host["root_cause"]["cause_id"] == "no_gpu_on_bus" and host["root_cause"]["status"] == "fail"
    assert host["checks"][0]["id"] == "root_cause"
    assert host["bottom_line"]["verdict"] == "cannot_train" and r.exit_code == 1


def test_this_machine_without_torch_still_names_the_missing_gpu_first(tmp_path):
    """No torch in the interpreter (the README's install gives none): the missing GPU still comes first."""
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    r = CliRunner().invoke(main, ["check", "--no-proof", "--json", "--python", str(venv / "bin" / "python")])
    host = json.loads(r.output)["hosts"][0]
    assert next(c for c in host["checks"] if c["id"] == "torch_installed")["status"] == "fail"
    pci = next(c for c in host["checks"] if c["id"] == "gpu_present")
    if pci["status"] != "fail":
        import pytest

        pytest.skip(f"this machine has an NVIDIA device: {pci['summary']}")
    assert host["root_cause"]["cause_id"] == "no_gpu_on_bus"


def test_one_liner_answers_are_read():
    assert session_values('$ python -c "import torch; print(torch.__version__, torch.cuda.is_available())"\n'
                          '2.3.0+cu121 True\n') == {"version": "2.3.0+cu121", "is_available": True}
    # an answer that does not fit the expressions is not read
    assert session_values('$ python -c "import torch; print(torch.cuda.is_available())"\nTraceback (most\n') == {}


def test_a_windows_paste_gets_no_linux_commands():
    _, _, h = diagnose_paste(constructed_body("paste/powershell-prompts-nvidia-smi-wddm.txt"), CHECKS)
    commands = [c for r in h.checks if r.fix for c in r.fix.commands]
    assert h.bottom_line.cuda == "fails"  # `print(torch.__version__, torch.cuda.is_available())` answered False
    assert not any(c.startswith(("sudo", "apt-get", "unset", "ls ", "lsmod", "modprobe")) for c in commands), commands


def test_a_paste_indented_as_a_markdown_code_block_is_read():
    """A real collect_env from the corpus, indented four spaces as GitHub's Markdown code blocks are."""
    from tests.corpus import corpus_body

    body = corpus_body("cases/torch-containers-healthy/healthy--torch1131-cu117-rtx3090-3080ti-510.txt")
    indented = "".join("    " + line for line in body.splitlines(keepends=True))
    named, failing, h = diagnose_paste(indented, CHECKS)
    assert h.recognised and "collect_env" in " ".join(h.recognised)
    assert named == "healthy" and failing == [] and h.bottom_line.cuda == "works"


def test_an_error_nothing_knows_is_said_as_seen_and_undetermined_not_passed():
    """A working driver's table next to an exception envdoctor has no knowledge of (constructed: the
    exception's name and words are made up): not "no known failure" with a ✓, but the error as seen, its cause
    not determined, and a verdict that cannot tell."""
    text = constructed_body("paste/healthy-table-and-unknown-exception.txt")
    named, failing, h = diagnose_paste(text, CHECKS)
    assert named == "undetermined" and not failing
    assert h.root_cause.status == Status.WARN and h.root_cause.cause_id is None
    assert "foo.BarError: the frobnicator failed to initialise" in h.root_cause.failure
    assert h.bottom_line.verdict == TrainingVerdict.CANNOT_TELL
    # without the exception the same table is healthy
    healthy = text.split("Traceback")[0]
    assert diagnose_paste(healthy, CHECKS)[0] == "healthy"
