"""`envdoctor proof` through Click's CliRunner, for real on this machine's CPU (no GPU here)."""

import json
import socket

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.proof.progress import PhaseLines, bar_line, fraction, phase_line


def test_json_is_one_document_and_allow_cpu_exits_0():
    r = CliRunner().invoke(main, ["proof", "--device", "cpu", "--allow-cpu", "--json", "--time-budget", "300"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # the whole stdout is one JSON document: no progress, no extra lines
    (host,) = doc["hosts"]
    assert host["host"] == socket.gethostname() and host["status"] == "warn"
    proof = host["proof"]
    assert proof["status"] == "warn" and proof["summary"].startswith("no GPU was used")
    assert proof["result"]["workers"][0]["param_device"] == "cpu"
    assert r.stderr == ""  # --json: no progress lines either




def test_text_report_without_allow_cpu_fails():
    r = CliRunner().invoke(main, ["proof", "--device", "cpu", "--time-budget", "300"])
    assert r.exit_code == 1, r.output
    me = socket.gethostname()
    assert f"{me}: proof-run fail" in r.output
    assert "no GPU was used" in r.output and "(proof_device)" in r.output
    # Not a terminal: one plain line per phase on stderr, from the first phases on, each once.
    phases = [ln.split(": ", 1)[1].split(" (")[0] for ln in r.stderr.splitlines() if ln.startswith(f"{me}: ")]
    assert phases[:3] == ["starting workers", "importing torch", "setup"], r.stderr
    assert "timed" in phases and len(phases) == len(set(phases)), r.stderr
    assert "\x1b[" not in r.stderr  # no cursor movement


def test_bad_option_is_usage_error():
    r = CliRunner().invoke(main, ["proof", "--batch-size", "0"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_progress_bar_line():
    ev = {"event": "progress", "rank": 0, "phase": "timed", "step": 50, "of": 100, "img_s": 2790.4, "loss": 0.41}
    assert fraction(ev) == pytest.approx(0.6)
    line = bar_line("gpu01", ev, width=10)
    assert line.startswith("gpu01        [######....] timed 50/100  2,790 img/s  loss 0.410")
    assert "starting" in bar_line("gpu02", None)
    assert bar_line("gpu03", ev, width=4, done="pass: ok").endswith("[####] pass: ok")


def test_phase_lines_one_per_phase_and_host():
    import io

    out = io.StringIO()
    lines = PhaseLines(out)
    for ev in [{"event": "progress", "phase": "importing torch", "rank": 0},
               {"event": "progress", "phase": "timed", "step": 1, "of": 9, "rank": 0, "precision": "fp16", "batch": 256},
               {"event": "progress", "phase": "timed", "step": 2, "of": 9, "rank": 0},
               {"event": "progress", "phase": "timed", "step": 2, "of": 9, "rank": 1}]:
        lines.update("gpu01", ev)
    assert out.getvalue() == "gpu01: importing torch\ngpu01: timed (fp16, batch 256)\n"
    assert phase_line("h", {"phase": "counting GPUs", "msg": "in a child process"}) == "h: counting GPUs (in a child process)"
