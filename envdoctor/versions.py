"""Version strings as comparable numbers, one way for the whole package (drivers, CUDA, torch, the Container
Toolkit, docker): `release("535.104.05") == (535, 104, 5)`, compared as tuples and cut to major.minor with [:2]."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_DOTTED, _NUMBER = re.compile(r"\d+(?:\.\d+)+"), re.compile(r"\d+")


def release(text: str | None) -> tuple[int, ...] | None:
    """The release numbers of a version: "535.104.05" -> (535, 104, 5), "12.1" -> (12, 1), "2.5.1+cu121" ->
    (2, 5, 1), "1.17.8-1" -> (1, 17, 8); None when it holds no number ("N/A", "", None).

    Parsed by packaging (PEP 440), and only its release numbers are kept: a pre-release or dev tag does not
    move a version below its release ("1.0preview", packaging's 1.0rc0, counts as 1.0, "2.6.0.dev20241112"
    as 2.6.0), since the tables we compare against name releases. A string packaging rejects counts as its
    first dotted number, else its first number: a Debian "535.183.01-0ubuntu1" or "1.0.0~beta.1-1", "R535",
    "/opt/nvidia/hpc_sdk/Linux_x86_64/23.5"."""
    if not text:
        return None
    try:
        return Version(text).release
    except InvalidVersion:
        m = _DOTTED.search(text) or _NUMBER.search(text)
        return release(m.group()) if m else None
    except ValueError:  # a number of thousands of digits, past int()'s limit: junk, not a version
        return None
