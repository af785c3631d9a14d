"""The probe: one self-contained, stdlib-only script that a target's own python runs (its source is sent
on stdin, so nothing is installed there). It collects every raw output at once and prints one JSON
document of named sections. It is written as small modules (envdoctor/probe/script/, one role each) that
envdoctor/payload.py assembles into that one script; `SOURCE` is what is sent: the assembled script with the
controller's vocabulary (the secret-name words and secret shapes of data/) written into its `VOCABULARY = None`
line."""

from functools import cache

from envdoctor.payload import assemble
from envdoctor.vocabulary import PROBE, with_vocabulary


@cache
def _source() -> str:
    return with_vocabulary(assemble("envdoctor.probe.script"), PROBE)


def __getattr__(name: str) -> str:
    # SOURCE is assembled when first read, once: parsing the parts is work a command that sends no probe skips.
    if name == "SOURCE":
        return _source()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
