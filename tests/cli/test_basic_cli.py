"""The CLI skeleton: exit codes and error lines (Click's CliRunner)."""

import json

from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.report.schema import report_schema


def test_schema_is_report_schema():
    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0
    assert json.loads(r.output) == report_schema()  # the Report model's, with headline/proof/fleet typed


def test_from_missing_file_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nope.txt"
    r = CliRunner().invoke(main, ["check", "--from", str(missing)])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert str(missing) in r.output


def test_explain_unknown_id_exit_2():
    r = CliRunner().invoke(main, ["explain", "no_such_check"])
    assert r.exit_code == 2
    assert "unknown check or cause id 'no_such_check'" in r.output
