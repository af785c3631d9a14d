"""The ResNet proof-run: a self-contained script the target's own python runs (sent on stdin, like the
probe), the pure verdict on its result, and the stage that ships one to the other. The script is written as
small modules (envdoctor/proof/script/, one role each) that envdoctor/payload.py assembles into one file;
`SOURCE` is that file with the controller's vocabulary (the clock-event reasons of
data/clock_event_reasons.yaml) written into its `VOCABULARY = None` line; `STDIN` is what travels: one line
carrying that text (its spawned workers need it as a file, which it writes into a private temporary
directory), then the script. What both sides read (the time budget, its grace) is envdoctor/proof/script/contract.py."""

from functools import cache

from envdoctor.payload import assemble
from envdoctor.vocabulary import PROOF, with_vocabulary


@cache
def _source() -> str:
    return with_vocabulary(assemble("envdoctor.proof.script"), PROOF)


@cache
def _stdin() -> bytes:
    return ("PROOF_SOURCE = %r\n" % _source() + _source()).encode()


def __getattr__(name: str):
    # SOURCE and STDIN are assembled when first read, once: parsing the parts is work a command that sends no
    # proof script (check --no-proof, list, explain) skips.
    if name == "SOURCE":
        return _source()
    if name == "STDIN":
        return _stdin()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
