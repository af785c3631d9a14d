"""The ResNet proof-run: a self-contained script the target's own python runs (sent on stdin, like the
probe), the pure verdict on its result, and the stage that ships one to the other. `SOURCE` is the script
with the controller's vocabulary (the clock-event reasons of data/clock_event_reasons.yaml) written into its
`VOCABULARY = None` line; `STDIN` is what travels: one line carrying that text (its spawned workers need it
as a file, which it writes into a private temporary directory), then the script."""

from importlib.resources import files

from envdoctor.vocabulary import PROOF, with_vocabulary

SOURCE: str = with_vocabulary(files(__package__).joinpath("proof_script.py").read_text(), PROOF)
STDIN: bytes = ("PROOF_SOURCE = %r\n" % SOURCE + SOURCE).encode()
