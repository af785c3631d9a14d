"""The ResNet proof-run: a self-contained script the target's own python runs (sent on stdin, like the
probe), the pure verdict on its result, and the stage that ships one to the other. `SOURCE` is the script."""

from importlib.resources import files

SOURCE: str = files(__package__).joinpath("proof_script.py").read_text()
