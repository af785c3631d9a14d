"""The command line. Each command lives in its own module `cmd_<name>.py` and is found here, so a new
command is a new file. Commands are thin: they parse options and call the engine."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from envdoctor import __version__
from envdoctor.errors import UserError
from envdoctor.printable import printable


class EnvdoctorGroup(click.Group):
    """Commands are the `cmd_<name>.py` modules of this package, imported only when used (a command's
    imports, such as the fix engine's, cost start-up time for every other command)."""

    def list_commands(self, ctx):
        return sorted(m.name[4:] for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_"))

    def get_command(self, ctx, name):
        if name not in self.list_commands(ctx):
            return None
        return importlib.import_module(f"{__name__}.cmd_{name}").command

    def resolve_command(self, ctx, args):
        # Click suggests close names from self.commands, which a lazy group leaves empty: give it the names.
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as e:
            raise click.exceptions.NoSuchCommand(e.command_name, possibilities=self.list_commands(ctx),
                                                 ctx=ctx) from None

    def main(self, *args, **kwargs):
        # Errors a user can cause end in one line and exit 2, never a traceback.
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except UserError as e:
            # where= and the message may quote a file name, a host name or a file's text: one line, escaped
            click.echo(f"envdoctor: error: {printable(e.line())}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("envdoctor: aborted", err=True)
            sys.exit(130)
        except click.ClickException as e:
            e.message = printable(e.message)  # click quotes the user's arguments in it
            e.show()
            sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)


@click.group(cls=EnvdoctorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envdoctor")
def main() -> None:
    """envdoctor: make a GPU machine trustworthy for deep learning.

    Diagnoses this machine (no TARGET) or remote hosts over SSH, fixes what it can with playbooks,
    and proves the GPU trains with a short ResNet run."""
