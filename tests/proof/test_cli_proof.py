"""`envdoctor proof` through Click's CliRunner, for real on this machine's CPU (no GPU here)."""

import json
import socket

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.proof.progress import bar_line, fraction


def test_json_is_one_document_and_allow_cpu_exits_0():
    r = CliRunner().invoke(main, ["proof", "--device", "cpu", "--allow-cpu", "--json", "--time-budget", "40"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # the whole stdout is one JSON document: no progress, no extra lines
    (host,) = doc["hosts"]
    assert host["host"] == socket.gethostname() and host["status"] == "warn"
    proof = host["proof"]
    assert proof["status"] == "warn" and proof["summary"].startswith("no GPU was used")
    assert proof["result"]["workers"][0]["param_device"] == "cpu"


def test_text_report_without_allow_cpu_fails():
    r = CliRunner().invoke(main, ["proof", "--device", "cpu", "--time-budget", "40"])
    assert r.exit_code == 1, r.output
    assert "localhost: proof-run fail" in r.output
    assert "no GPU was used" in r.output and "(proof_device)" in r.output


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
