"""The GPU-class, clock-event-reason and secret-name vocabularies are one data file each, read by the controller
and by the scripts it sends to targets (envdoctor/vocabulary.py writes them into the sent source). A script run
without them says so in its output instead of guessing."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import types
from pathlib import Path

from checks.gpu_health import _BAD_THROTTLE
from envdoctor import redact
from envdoctor.knowledge import load
from envdoctor.payload import assemble
from envdoctor.proof import STDIN as PROOF_STDIN
from envdoctor.proof.verdict import THROTTLE_PROBLEMS
from envdoctor.vocabulary import MARKER, clock_event_reasons, datacenter_gpus, secret_shapes, with_vocabulary
from tests.support.sent_scripts import sent_probe, sent_proof

ROOT = Path(__file__).resolve().parent.parent
PROBE = "envdoctor.probe.script"
PROOF = "envdoctor.proof.script"


def _bare(package: str, name: str):
    """The script as assembled from its parts, before the controller writes its vocabulary in."""
    mod = types.ModuleType(name)
    exec(compile(assemble(package), f"<{name}>", "exec"), mod.__dict__)  # noqa: S102 - our own script
    return mod


# ---- secret names: data/secret_names.yaml

def test_probe_and_redactor_hide_the_same_secret_words():
    words = tuple(w.upper() for w in load("secret_names")["words"])
    probe = sent_probe()
    assert tuple(probe.VOCABULARY["secret_name_words"]) == redact.SECRET_NAME_WORDS == words
    for w in words:
        assert probe.secret_name(f"CUDA_{w}_X") and redact._secret_name(f"CUDA_{w}")
        flag = f"--app.{w.lower()}"
        assert probe._sec_redact_argv([flag + "=v4lue"]) == [flag + "=<redacted>"]
    assert not probe.secret_name("CUDA_VISIBLE_DEVICES") and not redact._secret_name("CUDA_VISIBLE_DEVICES")


def test_sent_probe_hides_a_secret_variable_and_keeps_the_others(monkeypatch):
    monkeypatch.setenv("CUDA_CACHE_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    env = json.loads(sent_probe().environment()["stdout"])
    assert env["CUDA_CACHE_TOKEN"] == "<redacted>" and env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_probe_without_its_vocabulary_says_so_and_hides_every_value(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    bare = _bare(PROBE, "envdoctor_probe_bare")
    assert bare.VOCABULARY is None
    assert json.loads(bare.environment()["stdout"])["CUDA_VISIBLE_DEVICES"] == "<redacted>"  # fails closed
    r = subprocess.run([sys.executable, "-", "--no-torch"], input=assemble(PROBE), capture_output=True,
                       text=True, timeout=300)
    doc = json.loads(r.stdout)
    assert doc["vocabulary_missing"] == bare.VOCABULARY_MISSING and "vocabulary" in r.stderr


# ---- secret shapes: data/secret_shapes.yaml

def test_probe_and_redactor_hide_the_same_secret_shapes():
    """One list of shapes: the probe as sent carries the data file, and hides every constructed sample the
    way the controller's redactor does."""
    from tests.test_redact import CASES, NOT_SECRETS, SHAPE_LOOK_ALIKES, SHAPES

    probe = sent_probe()
    assert probe.VOCABULARY["secret_shapes"] == secret_shapes() == {k: load("secret_shapes")[k] for k in
                                                                   ("shapes", "tokens", "program_flags")}
    samples = [t for t, _ in SHAPES + CASES] + SHAPE_LOOK_ALIKES + NOT_SECRETS
    assert [probe.redact_shapes(t) for t in samples] == [redact.by_shape(t) for t in samples]
    assert sum(redact.MARK in redact.by_shape(t) for t, _ in SHAPES) > len(SHAPES) // 2  # not a vacuous match


def test_shape_patterns_compile_on_the_probes_oldest_python():
    # Python 3.6 takes inline flags only at the start of a pattern (3.11 refuses them elsewhere, too)
    for d in load("secret_shapes")["shapes"]:
        assert not re.search(r"(?<!^)\(\?[aiLmsux]+\)", d["pattern"]), d["id"]
        assert "(?>" not in d["pattern"] and not re.search(r"[*+?}]\+", d["pattern"]), d["id"]  # no 3.11 syntax


def test_probe_hides_a_program_flag_value_and_a_shape_in_a_command_line():
    argv = sent_probe()._sec_redact_argv
    assert argv(["sshpass", "-p", "hunter2", "ssh", "gpu01"]) == ["sshpass", "-p", "<redacted>", "ssh", "gpu01"]
    assert argv(["sudo", "/usr/bin/mysql", "-uroot", "-phunter2"]) == ["sudo", "/usr/bin/mysql", "-uroot", "-p<redacted>"]
    assert argv(["redis-server", "--requirepass", "hunter2"]) == ["redis-server", "--requirepass", "<redacted>"]
    assert argv(["mysql", "-p", "-u", "root"]) == ["mysql", "-p", "-u", "root"]
    assert argv(["ssh", "-p", "2222", "gpu01"]) == ["ssh", "-p", "2222", "gpu01"]
    assert argv(["python", "x.py", "--mirror", "https://bob:hunter2@pypi.internal/simple"]) == \
        ["python", "x.py", "--mirror", "https://bob:<redacted>@pypi.internal/simple"]


def test_probe_hides_a_shape_in_a_kept_variable(monkeypatch):
    monkeypatch.setenv("CUDA_CACHE_MIRROR", "https://bob:hunter2@cache.internal/")
    env = json.loads(sent_probe().environment()["stdout"])
    assert env["CUDA_CACHE_MIRROR"] == "https://bob:<redacted>@cache.internal/"


# ---- clock-event (throttle) reasons: data/clock_event_reasons.yaml

def test_proof_script_verdict_and_check_read_one_reason_table():
    table = clock_event_reasons()
    ps = sent_proof()
    assert ps.VOCABULARY["clock_event_reasons"] == table
    assert THROTTLE_PROBLEMS == {r["key"] for r in table if r["problem"]}
    assert _BAD_THROTTLE == {r["name"] for r in table if r["problem"]}
    assert THROTTLE_PROBLEMS == {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
    assert ps.reason_names(0x8 | 0x20 | 0x400) == ["hw_slowdown", "sw_thermal_slowdown", "reliability"]
    # the workers' copy is written from PROOF_SOURCE, the text that carries the table
    assert b"VOCABULARY = json.loads(" in PROOF_STDIN and b"\nVOCABULARY = None\n" not in PROOF_STDIN


def test_proof_script_without_its_vocabulary_says_so_and_decodes_nothing():
    bare = _bare(PROOF, "envdoctor_proof_bare")
    assert bare.VOCABULARY is None and bare.reason_names(0x8) is None  # unknown, never "not throttled"
    args = bare.parse_args(["--device", "cpu", "--time-budget", "10"])
    assert bare.Parent(args, 0.0, None).result["vocabulary_missing"] == bare.VOCABULARY_MISSING
    assert "vocabulary_missing" not in sent_proof().Parent(args, 0.0, None).result


def test_the_marker_line_is_replaced_once_or_not_at_all():
    assert assemble(PROBE).split("\n").count(MARKER) == 1
    assert assemble(PROOF).split("\n").count(MARKER) == 1
    try:
        with_vocabulary("x = 1\n", {})
    except RuntimeError as e:
        assert "VOCABULARY = None" in str(e)
    else:
        raise AssertionError("a script without its marker line must not be sent")


# ---- GPU class: data/datacenter_gpus.yaml

# Python strings allowed to name GPU models, with the reason. Keep it short; shrink it.
GPU_NAME_ALLOWED = {
    "envdoctor/diagnosis/root_cause.py": "_nvswitch guesses an NVSwitch system from SXM/HGX names (a form factor, not the "
                               "GPU class); the reasoning is its owner's to move into data",
}


def _strings(path: Path):
    """(line, text) of every string constant that is not a docstring."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_gpu_class_is_decided_only_from_the_data_file():
    """No code (checks, parsers, verdict, the sent scripts) carries its own list of GPU brands or models:
    the GPU class comes from datacenter_gpus.yaml (through nvidia_smi.is_datacenter / GpuInfo.datacenter)."""
    dc = datacenter_gpus()
    words = {w for w in dc["brands"] + dc["not_if"] + dc["name_words"] if len(w) >= 3}
    rx = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True))
                    + r")(?![A-Za-z0-9])")
    found = []
    for folder in ("envdoctor", "checks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in GPU_NAME_ALLOWED:
                continue
            found += [f"{rel}:{line}: {text[:80]!r}" for line, text in _strings(path) if rx.search(text)]
    assert not found, "GPU names outside data/datacenter_gpus.yaml:\n" + "\n".join(found)
