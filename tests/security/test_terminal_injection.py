"""Terminal injection: text from a host, a file or a paste reaches the terminal (and Slurm's drain reason)
only in its visible form (`\\x1b`), never as a raw escape sequence. Every attack here is constructed: OSC
title (BEL-terminated), OSC 8 hyperlink and DCS (ST-terminated), an unterminated OSC 52 clipboard write,
CSI screen clears, RIS, C1 controls and a carriage return, carried by each way such text gets in. The
commands run for real (Click's CliRunner); JSON keeps the raw text."""

import json
import re

import click
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.diagnosis.bundle import Bundle
from envdoctor.hosts.fleet import fleet_summary
from envdoctor.models import CheckResult, HostReport, HostStatus, Proof, Report, Status
from envdoctor.printable import printable
from envdoctor.proof.progress import PhaseLines, ProgressBoard, bar_line, phase_line
from envdoctor.report.text import render, render_fleet, render_proof
from envdoctor.slurm.nodes import REASON_MAX, NodeState, drain_reason, plan_health

# Constructed attacks, each with the visible form that must be shown instead.
ATTACKS = {
    "\x1b]0;pwned\x07": "\\x1b]0;pwned\\x07",  # OSC window title, BEL-terminated
    "\x1b[2J\x1b[H": "\\x1b[2J\\x1b[H",  # CSI: clear the screen, cursor home
    "\x1bP1$r0m\x1b\\": "\\x1bP1$r0m\\x1b\\",  # DCS, ST-terminated
    "\x1bc": "\\x1bc",  # RIS: reset the terminal
    "\x9b31m": "\\x9b31m",  # C1 CSI (one byte on 8-bit terminals)
    "\x9d0;c1title\x9c": "\\x9d0;c1title\\x9c",  # C1 OSC and ST
    "\rhidden": "\\rhidden",  # carriage return: overwrites what was shown before it
}
HYPERLINK = "\x1b]8;;https://evil.invalid/x\x1b\\click\x1b]8;;\x1b\\"  # OSC 8 (has '/': not for file names)
CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsfHNo"  # OSC 52 clipboard write, never terminated: must come last
ATTACK = "".join(ATTACKS) + CLIPBOARD
SHOWN = list(ATTACKS.values()) + ["\\x1b]52;c;"]
NVSMI = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"  # a paste it reads
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must never reach the terminal (\n and \t may)


def assert_clean(out: str, shown=SHOWN):
    assert not RAW.search(out), repr(RAW.search(out).group())
    for visible in shown:
        assert visible in out


def run(*args):
    r = CliRunner().invoke(main, list(args))  # output holds stdout and stderr
    return r


SITE_CHECK = f'''
from envdoctor.diagnosis.catalog import check, fail


@check("site_hostile", "Constructed: a check quoting hostile evidence", order=5)
def site_hostile(facts):
    """Constructed: the summary and evidence carry terminal escape sequences."""
    return fail({ATTACK + HYPERLINK!r}, evidence=[{ATTACK!r}, {("line one" + chr(10) + ATTACK)!r}])
'''


def test_printable_shows_every_control_as_its_escape():
    """Constructed attacks, one by one: nothing raw left, the visible form instead, plain text unchanged."""
    for attack, shown in ATTACKS.items():
        assert printable(attack) == shown
    assert printable(CLIPBOARD) == "\\x1b]52;c;Y3VybCBldmlsfHNo"
    assert printable(HYPERLINK) == "\\x1b]8;;https://evil.invalid/x\\x1b\\click\\x1b]8;;\\x1b\\"
    assert printable("gpu01 ✓ ✗ é 日本 tab") == "gpu01 ✓ ✗ é 日本 tab"
    assert printable("a\nb\tc") == "a\\nb\\tc"  # a single-line field stays one line
    assert printable("a\r\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"  # evidence keeps its lines
    assert printable("\u202eevil\u2028x\ud800") == "\\u202eevil\\u2028x\\ud800"  # bidi, separators, surrogates
    assert printable(None) == "" and printable(7) == "7"


def test_check_summary_and_evidence_are_shown_escaped_and_kept_raw_in_json(tmp_path):
    """Constructed: a site check whose summary and evidence (one of them multi-line) carry every attack."""
    (tmp_path / "hostile.py").write_text(SITE_CHECK)
    paste = tmp_path / "paste.txt"
    paste.write_text(NVSMI)
    r = run("check", "--from", str(paste), "--checks-dir", str(tmp_path), "-v")
    assert_clean(r.output)
    assert "\\x1b]8;;https://evil.invalid/x" in r.output
    ev = [ln for ln in r.output.splitlines() if "line one" in ln]
    assert ev and ev[0].strip() == "• line one"  # the evidence's second line stays under its bullet
    j = run("check", "--json", "--from", str(paste), "--checks-dir", str(tmp_path))
    doc = json.loads(j.stdout)
    hostile = next(c for c in doc["hosts"][0]["checks"] if c["id"] == "site_hostile")
    assert hostile["summary"].startswith("\x1b]0;pwned\x07")  # JSON keeps the raw data


def test_check_text_with_colour_keeps_our_marks_and_escapes_theirs(tmp_path):
    """Constructed: with colours on, our own SGR codes remain and are the only escape sequences."""
    h = HostReport(host="n1" + ATTACK, status=HostStatus.FAIL, error=None, checks=[
        CheckResult(id="site_hostile", title="T" + ATTACK, status=Status.FAIL, summary=ATTACK, evidence=[ATTACK]),
        CheckResult(id="ok", title="fine", status=Status.PASS, summary="fine")])
    out = render(Report(envdoctor="0", hosts=[h]), color=True, verbose=True)
    assert "\x1b[" in out and "✗" in out and "✓" in out  # click's colours and our marks
    assert_clean(click.unstyle(out))
    assert not re.search("\x1b(?!\\[[0-9;]*m)", out)  # any ESC left starts one of our SGR colour codes


def test_paste_file_name(tmp_path):
    """Constructed: the attack is the paste's file name (the report's host name)."""
    name = "".join(ATTACKS) + "x.txt"
    paste = tmp_path / name
    paste.write_text("Driver Version: 535.54.03\n")
    r = run("check", "--from", str(paste))
    assert_clean(r.output, list(ATTACKS.values()))


def test_bundle_host_name(tmp_path):
    """Constructed: a saved bundle whose manifest names the host with every attack."""
    Bundle(host="node" + ATTACK, pastes=["Driver Version: 535.54.03\n"]).save(tmp_path / "b")
    r = run("check", "--from", str(tmp_path / "b"))
    assert r.output.startswith("node\\x1b]0;pwned\\x07")
    assert_clean(r.output)


def test_yaml_inventory_host_names(tmp_path):
    """Constructed: YAML-escaped control characters in an inventory's host name, listed by `hosts`."""
    inv = tmp_path / "inv.yml"
    inv.write_text('all:\n  hosts:\n    "gpu\\x1b]0;pwned\\x07\\x1b[2J\\x1bc\\x9b31m":\n      ansible_host: 10.0.0.1\n')
    r = run("hosts", "-i", str(inv))
    assert r.exit_code == 0, r.output
    assert_clean(r.output, ["gpu\\x1b]0;pwned\\x07\\x1b[2J\\x1bc\\x9b31m  ssh 10.0.0.1"])


def test_yaml_inventory_with_raw_control_characters_is_one_line(tmp_path):
    """Constructed: raw ESC and BEL in a YAML inventory: one error line (YAML's own message has two)."""
    inv = tmp_path / "raw.yml"
    inv.write_bytes(b"all:\n  hosts:\n    gpu\x1b]0;pwned\x07:\n")
    r = run("hosts", "-i", str(inv))
    assert r.exit_code == 2
    assert len(r.output.splitlines()) == 1, r.output
    assert r.output.startswith("envdoctor: error: ")
    assert not RAW.search(r.output)


def test_error_line_with_a_hostile_file_name(tmp_path):
    """Constructed: a missing --from file and a missing --checks-dir named with every attack."""
    name = "".join(ATTACKS) + "\x1b]52;c;eA"
    r = run("check", "--from", str(tmp_path / name))
    assert r.exit_code == 2
    assert len(r.output.splitlines()) == 1, r.output
    assert_clean(r.output)
    r = run("list", "--checks-dir", str(tmp_path / name))
    assert r.exit_code == 2
    assert_clean(r.output)


def test_play_diff_shows_a_files_escape_sequences(tmp_path):
    """Constructed: the file a playbook changes holds every attack; `play --check --diff` shows its lines
    (check mode: the file is not changed)."""
    target = tmp_path / "target.conf"
    old = "keep\n" + ATTACK + HYPERLINK + "\nform\x0cfeed\x85nel\n"
    target.write_text(old)
    pb = tmp_path / "pb.yml"
    pb.write_text(f"- name: constructed\n  tasks:\n    - name: rewrite {json.dumps(ATTACK)}\n"
                  f"      copy: {{path: {json.dumps(str(target))}, content: \"clean\\n\\x1b[2J\\n\"}}\n")
    r = run("play", str(pb), "--check", "--diff")
    assert r.exit_code == 0, r.output
    assert_clean(r.output)
    assert "-\\x1b]0;pwned\\x07" in r.output and "+\\x1b[2J" in r.output
    assert "-form\\x0cfeed\\x85nel" in r.output  # shown as one line, not broken at the form feed
    assert target.read_bytes() == old.encode()  # unchanged (bytes: read_text would turn \r into \n)


def test_fleet_table_and_drift():
    """Constructed: host names and headline facts carrying attacks, in the fleet table and the drift
    (the table needs several SSH hosts from `check`: its renderer is tested on the fleet it is given)."""
    hosts = [HostReport(host=f"gpu{i}{ATTACK}", status=HostStatus.PASS,
                        headline={"gpu": "H100" + (ATTACK if i == 2 else ""), "driver": "550"}) for i in range(3)]
    fleet = fleet_summary(hosts, golden=hosts[0].host)
    out = render_fleet(fleet)
    assert_clean(out)
    assert "H100\\x1b]0;pwned" in out
    assert_clean(render(Report(envdoctor="0", hosts=hosts, fleet=fleet), color=False))


def test_proof_report_and_progress_lines():
    """Constructed: a proof result whose summary, stderr and GPU name carry attacks, and progress events
    from the target whose phase and message carry them."""
    proof = Proof(status=Status.ERROR, summary=ATTACK, stderr_tail="ok\n" + ATTACK + "\n\x1b]52;c;QQ")
    out = render_proof("gpu" + ATTACK, proof, color=True)
    assert_clean(click.unstyle(out))
    ev = {"event": "progress", "phase": ATTACK, "step": 1, "of": 2, "msg": ATTACK}
    assert_clean(bar_line("gpu" + ATTACK, ev))
    assert_clean(bar_line("gpu" + ATTACK, None, done=ATTACK))
    assert_clean(phase_line("gpu" + ATTACK, ev))

    class Stream:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    s = Stream()
    lines = PhaseLines(s)
    lines.update("gpu" + ATTACK, ev)
    lines.finish("gpu" + ATTACK, ATTACK)
    assert_clean(s.text)
    board = ProgressBoard(["gpu" + ATTACK], s := Stream())
    board.update("gpu" + ATTACK, ev)
    board.finish("gpu" + ATTACK, ATTACK)
    # the board's own cursor moves (ESC [ n F, ESC [ 2K) are the only escapes it writes
    assert_clean(re.sub(r"\x1b\[(?:2K|\d+F)", "", s.text))


def test_drain_reason_is_one_printable_line():
    """Constructed: a failed check's id and summary with every attack, and a newline, in the drain reason
    that `health` passes to `scontrol update ... reason=` (and so to `sinfo -R`). The real Slurm run is
    tests/slurm/test_drain_reason_printable.py."""
    problems = [CheckResult(id="site_hostile", title="t", status=Status.FAIL, summary="\x1b]0;pwned\x07 two\nlines"),
                CheckResult(id="x", title="t", status=Status.FAIL, summary=ATTACK)]
    reason = drain_reason(problems)
    assert reason == "envdoctor: site_hostile: \\x1b]0;pwned\\x07 two lines (+1 more)"
    long = drain_reason([CheckResult(id="y", title="t", status=Status.FAIL, summary=ATTACK * 20)])
    assert len(long) <= REASON_MAX and not RAW.search(long)
    action = plan_health(NodeState("n1", "idle", None), problems)
    assert not RAW.search(action.describe())
    admin = plan_health(NodeState("n1", "drained", "admin\x1b[2J"), [])
    assert "admin\\x1b[2J" in printable(admin.describe())  # health prints it through printable


def test_health_lines_on_stderr(tmp_path):
    """Constructed: `health --no-slurm` with a site check quoting the attacks: its stderr line is escaped
    (diagnoses this machine read-only, changes nothing)."""
    (tmp_path / "hostile.py").write_text(SITE_CHECK)
    r = run("health", "--no-slurm", "--no-torch", "--checks-dir", str(tmp_path), "--only", "site_hostile",
            "--time-bound", "150")
    assert r.exit_code == 1, r.output
    assert_clean(r.output)
