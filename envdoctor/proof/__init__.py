"""The ResNet proof-run: a self-contained script the target's own python runs (sent on stdin, like the
probe), the pure verdict on its result, and the stage that ships one to the other. `SOURCE` is the script;
`STDIN` is what travels: one line carrying the script's own text (its spawned workers need it as a file,
which it writes into a private temporary directory), then the script."""

from importlib.resources import files

SOURCE: str = files(__package__).joinpath("proof_script.py").read_text()
STDIN: bytes = ("PROOF_SOURCE = %r\n" % SOURCE + SOURCE).encode()
