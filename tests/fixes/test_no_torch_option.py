"""fix and play take --no-torch from the one definition check and health use: the same help, as printed."""

from tests.cli.test_check_selection import _help_of


def test_fix_and_play_print_the_same_no_torch_help_as_check():
    for command in ("fix", "play"):
        assert _help_of(command, "--no-torch") == _help_of("check", "--no-torch"), command
