"""The probe: one self-contained, stdlib-only script that a target's own python runs (its source is sent
on stdin, so nothing is installed there). It collects every raw output at once and prints one JSON
document of named sections. `SOURCE` is what is sent: the script with the controller's vocabulary (the
secret-name words of data/secret_names.yaml) written into its `VOCABULARY = None` line."""

from importlib.resources import files

from envdoctor.vocabulary import PROBE, with_vocabulary

SOURCE: str = with_vocabulary(files(__package__).joinpath("probe_script.py").read_text(), PROBE)
