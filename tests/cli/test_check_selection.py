"""`check --only/--skip/--no-torch`: the options fix, play and health have, with one definition (the same
help everywhere), judged on a paste as a user reads the report."""

import re

from click.testing import CliRunner

from envdoctor.cli import main
from tests.corpus import corpus_path

PASTE = str(corpus_path("nvidia-smi-q-xml/tesla-t4-515.105.01.txt"))


def _check_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.lstrip().startswith(("[✓]", "[!]", "[✗]", "[?]", "[-]"))]


def test_only_judges_the_checks_named():
    r = CliRunner().invoke(main, ["check", "--from", PASTE, "--only", "persistence_mode"])
    assert r.exit_code == 0, r.output
    (line,) = _check_lines(r.output)
    assert line.endswith("(persistence_mode)")


def test_skip_leaves_the_checks_named_out():
    # -v: every check on its own line (without it, the passing ones are counted in one folded line)
    full = CliRunner().invoke(main, ["check", "--from", PASTE, "-v"]).output
    r = CliRunner().invoke(main, ["check", "--from", PASTE, "-v", "--skip", "persistence_mode,pcie_link"])
    assert "(persistence_mode)" in full and "(pcie_link)" in full
    assert "(persistence_mode)" not in r.output and "(pcie_link)" not in r.output
    assert "(security_nvidia_driver)" in r.output  # the other warning stays


def test_an_unknown_id_is_one_line_with_the_close_ones():
    r = CliRunner().invoke(main, ["check", "--from", PASTE, "--only", "shm"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "Error: unknown check id(s): shm; did you mean shm_size? (envdoctor list shows them)" in r.output


def _help_of(command: str, option: str) -> str:
    """The option's help as `envdoctor COMMAND --help` prints it (joined into one line)."""
    text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
    return re.split(r" (?=-{1,2}[a-z])", text.split(f" {option} ", 1)[1], maxsplit=1)[0]


def test_check_and_health_share_the_options_and_their_help():
    for option in ("--only TEXT", "--skip TEXT", "--no-torch"):
        assert _help_of("check", option) == _help_of("health", option), option
    assert _help_of("check", "--no-torch").endswith("no proof-run).")
