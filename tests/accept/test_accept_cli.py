"""`envdoctor accept`'s command line: what it offers, and input a user can get wrong (one line, exit 2)."""

from __future__ import annotations

from click.testing import CliRunner

from envdoctor.cli import main


def test_help_names_the_budget_quick_and_multi_node():
    out = CliRunner().invoke(main, ["accept", "--help"]).output
    for words in ("--quick", "[default: 90; 20 with --quick]", "--multi-node", "--json", "--prometheus", "--html"):
        assert words in out


def test_multi_node_needs_two_targets():
    r = CliRunner().invoke(main, ["accept", "--multi-node"])
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == ["envdoctor: error: --multi-node needs two or more TARGETs"]
    assert "Traceback" not in r.output


def test_a_budget_below_five_seconds_is_refused():
    r = CliRunner().invoke(main, ["accept", "--time-budget", "1"])
    assert r.exit_code == 2 and "--time-budget" in r.output and "Traceback" not in r.output
