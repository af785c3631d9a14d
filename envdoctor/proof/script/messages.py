"""The messages of the proof-run: JSON text from a worker to the parent (a queue), JSON lines from the parent to
the controller (stdout)."""

import json
import sys
import threading


def send(q, msg):
    """Everything a worker sends to the parent is JSON text. Unpickling an object of torch's in the parent (the
    worker's torch.__version__ is a torch.torch_version.TorchVersion) imports all of torch there: seconds the
    parent's wait for the other results does not have. Parsed by receive()."""
    q.put(json.dumps(msg, default=str))


def receive(raw):
    """A worker's message as plain JSON types (None for anything that is not one of ours)."""
    try:
        msg = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


class Emitter:
    """The only writer of stdout: one JSON object per line, flushed, so the controller can stream it."""

    def __init__(self):
        self.lock = threading.Lock()

    def __call__(self, obj):
        line = json.dumps(obj, default=str)
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
