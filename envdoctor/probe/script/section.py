"""A section is what one piece of evidence became: {cmd, rc, stdout, stderr, secs, error}. The ones made
without running a command: a file read, a text the probe wrote itself."""

MAX_OUT = 2000000  # bytes kept per stream: a runaway kernel log must not flood the controller


def trim(b):
    """A stream's bytes as text, only its last MAX_OUT bytes kept."""
    if b is None:
        return ""
    if len(b) > MAX_OUT:
        b = b[-MAX_OUT:]
    return b.decode("utf-8", "replace")


def read(path, limit=MAX_OUT):
    """Read a file as a section: "not-found" if absent, "denied" if unreadable."""
    sec = {"cmd": "cat " + path, "rc": None, "stdout": "", "stderr": "", "secs": 0.0, "error": None}
    try:
        with open(path, "rb") as f:
            sec["stdout"] = trim(f.read(limit))
        sec["rc"] = 0
    except FileNotFoundError:
        sec["error"] = "not-found"
    except PermissionError:
        sec["error"] = "denied"
    except OSError as e:
        sec["error"] = str(e)
    return sec


def text(cmd, body):
    return {"cmd": cmd, "rc": 0, "stdout": body, "stderr": "", "secs": 0.0, "error": None}
