"""Commands are imported only when used, so a broken import in one of them shows only when it is run: every
command the CLI lists must load and print its help."""

import pytest
from click.testing import CliRunner

from envdoctor.cli import main


@pytest.mark.parametrize("name", main.list_commands(None))
def test_every_listed_command_loads_and_prints_its_help(name):
    r = CliRunner().invoke(main, [name, "--help"])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert f"Usage: main {name}" in r.output or f"Usage: envdoctor {name}" in r.output, r.output
