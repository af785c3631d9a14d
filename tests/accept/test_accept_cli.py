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


def test_help_names_the_slurm_way_in():
    out = " ".join(CliRunner().invoke(main, ["accept", "--help"]).output.split())
    for words in ("--slurm", "one srun step, one task per node", "-p, --partition", "-w, --nodelist"):
        assert words in out


def test_slurm_node_selection_is_not_mixed_with_targets_or_multi_node():
    for args, says in ((["--slurm", "gpu01"], "not TARGETs"), (["-w", "n[1-2]"], "need --slurm"),
                       (["--slurm", "--multi-node"], "--multi-node is not available with --slurm")):
        r = CliRunner().invoke(main, ["accept", *args])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output


def test_slurm_where_slurm_is_not_installed_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo, no srun
    r = CliRunner().invoke(main, ["accept", "--slurm", "--device", "cpu"])
    assert r.exit_code == 2, r.output
    (line,) = r.output.strip().splitlines()
    assert line.startswith("envdoctor: error: ") and "Traceback" not in r.output
