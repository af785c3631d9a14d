"""A near miss gets a suggestion: a mistyped command (Click's own suggestion), an unknown id for explain,
--only or --skip (the check and cause names close to it). One line, exit 2, no traceback."""

from click.testing import CliRunner

from envdoctor.cli import main


def test_a_mistyped_command_suggests_the_command():
    r = CliRunner().invoke(main, ["chek"])
    assert r.exit_code == 2
    assert "Error: No such command 'chek'." in r.output and "'check'" in r.output and "Did you mean" in r.output
    r = CliRunner().invoke(main, ["fx"])
    assert "Error: No such command 'fx'. Did you mean 'fix'?" in r.output


def test_explain_suggests_close_check_and_cause_names():
    r = CliRunner().invoke(main, ["explain", "shm"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.splitlines() == ["envdoctor: error: unknown check or cause id 'shm'; did you mean shm_size or "
                                     "dev_shm_permission_denied or shm_host_too_small? (`envdoctor list` shows the "
                                     "checks)"]
    r = CliRunner().invoke(main, ["explain", "driver_laoded"])
    assert "did you mean driver_loaded" in r.output


def test_explain_explains_a_root_cause_the_report_names():
    r = CliRunner().invoke(main, ["explain", "no_gpu_on_bus"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("no_gpu_on_bus (a root cause): no NVIDIA GPU on the PCI bus")
    assert "\nFix: " in r.output


def test_explain_says_nothing_close_when_nothing_is():
    r = CliRunner().invoke(main, ["explain", "zzz"])
    assert r.output == "envdoctor: error: unknown check or cause id 'zzz' (`envdoctor list` shows the checks)\n"
