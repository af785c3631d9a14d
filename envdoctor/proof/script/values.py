"""Reading values without raising: an exception's first line, numbers and strings from NVML and nvidia-smi."""


def first_line(e):
    """An exception as "Type: its first line"."""
    s = str(e).strip()
    return "%s: %s" % (type(e).__name__, s.splitlines()[0] if s else "")


def first_word(s):
    """The number of "83.92 W" (nvidia-smi with units), None for nothing."""
    return s.split(" ")[0] if s else None


def as_str(v):
    """NVML's bytes or str as str."""
    return v.decode() if isinstance(v, bytes) else str(v)


def quietly(fn):
    """fn() or None when it raises: one unreadable value must not lose the others."""
    try:
        return fn()
    except Exception:
        return None


def as_int(s, base=10):
    """An int from "26", "26.0", 26 or "0x8" (base 16); None when it is not one."""
    try:
        return int(s, base) if isinstance(s, str) else int(s)
    except (TypeError, ValueError):
        try:
            return int(float(s))
        except (TypeError, ValueError):
            return None


def as_float(s):
    """A float, or None when it is not one ("[N/A]")."""
    try:
        return float(s)
    except (TypeError, ValueError):
        return None
