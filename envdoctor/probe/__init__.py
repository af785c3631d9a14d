"""The probe: one self-contained, stdlib-only script that a target's own python runs (its source is sent
on stdin, so nothing is installed there). It collects every raw output at once and prints one JSON
document of named sections. `SOURCE` is that script's text."""

from importlib.resources import files

SOURCE: str = files(__package__).joinpath("probe_script.py").read_text()
