"""Progress of the slow phases on stderr, as a user sees it: a live line on a terminal (erased before the
report), one plain line per phase without one, nothing with --json; the report on stdout is unchanged."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner

from envdoctor.cli import cmd_check, main
from envdoctor.cli.progress import Phases, phase_text
from tests.corpus import corpus_path

PASTE = corpus_path("nvidia-smi-q-xml/tesla-t4-515.105.01.txt")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_each_phase_is_one_plain_line():
    out = io.StringIO()
    phases = Phases.for_stderr(stream=out)
    with phases.phase("gathering the facts of this machine"):
        pass
    with phases.phase("reading big.txt"):
        pass
    assert out.getvalue() == ("envdoctor: gathering the facts of this machine...\n"
                              "envdoctor: reading big.txt...\n")


def test_on_a_terminal_the_phase_is_one_line_redrawn_with_its_seconds_then_erased():
    term = Terminal()
    phases = Phases.for_stderr(stream=term)
    assert phases.terminal
    with phases.phase("gathering the facts of this machine"):
        pass
    drawn = term.getvalue()
    assert drawn.startswith("\r\x1b[2Kenvdoctor: gathering the facts of this machine... 0.")
    assert drawn.endswith(" s\r\x1b[2K")  # erased: the report starts on a clean line
    assert "\n" not in drawn  # redrawn in place, never a new line


def test_json_gets_nothing():
    out = Terminal()
    with Phases.for_stderr(quiet=True, stream=out).phase("gathering"):
        pass
    assert out.getvalue() == ""


def test_phase_text_is_one_escaped_line():
    assert phase_text("reading a\x1b]0;x\x07\n.txt", 2.345) == "envdoctor: reading a\\x1b]0;x\\x07\\n.txt... 2.3 s"


def test_a_big_paste_says_what_it_is_doing_and_the_report_is_unchanged(monkeypatch):
    r = CliRunner().invoke(main, ["check", "--from", str(PASTE)])
    assert r.stderr == ""  # small: read in a moment, nothing to say
    small = r.stdout
    monkeypatch.setattr(cmd_check, "BIG_INPUT_BYTES", 1000)  # this paste counts as big
    r = CliRunner().invoke(main, ["check", "--from", str(PASTE)])
    assert r.stderr.splitlines() == [f"envdoctor: reading {PASTE}...", f"envdoctor: recognising what {PASTE} shows..."]
    assert r.stdout == small
    r = CliRunner().invoke(main, ["check", "--json", "--from", str(PASTE)])
    assert r.stderr == ""
    json.loads(r.stdout)
