"""The vocabularies the controller shares with the scripts it sends to targets, one data file each:
which names are secret (data/secret_names.yaml), what a secret looks like whatever its name
(data/secret_shapes.yaml), the clock-event (throttle) reasons and which of them are problems
(data/clock_event_reasons.yaml), which GPUs are data-center parts (data/datacenter_gpus.yaml).

How a script gets them: the probe and the proof script run where envdoctor is not installed (stdlib only,
sent on stdin), so they cannot read the data files. `with_vocabulary` writes what a script reads into the
source that is sent, replacing its one line `VOCABULARY = None` with `VOCABULARY = json.loads('<JSON>')`
(envdoctor.probe.SOURCE and envdoctor.proof.SOURCE are built that way, on the script envdoctor/payload.py
assembles from its parts; the part that reads the vocabulary holds that line). The parts keep None, so the
script assembled without it still runs: it then says in its output that it ran without the vocabulary."""

from __future__ import annotations

import json

from envdoctor.knowledge import load

MARKER = "VOCABULARY = None"  # the line of a script that `with_vocabulary` replaces


def secret_name_words() -> tuple[str, ...]:
    """The words that make a variable, key or flag name secret, upper case ("TOKEN", "PASSW", ...)."""
    return tuple(w.upper() for w in load("secret_names")["words"])


def secret_shapes() -> dict:
    """{"shapes", "tokens", "program_flags"}: what a secret looks like whatever it is named (data/secret_shapes.yaml)."""
    d = load("secret_shapes")
    return {"shapes": [dict(s) for s in d["shapes"]], "tokens": [dict(t) for t in d["tokens"]],
            "program_flags": [{"programs": list(f["programs"]), "flags": list(f["flags"])} for f in d["program_flags"]]}


def clock_event_reasons() -> list[dict]:
    """NVML's clock-event reasons: [{"bit", "key", "name", "problem"}], in the order of the table."""
    return [{"bit": r["bit"], "key": r["key"], "name": r["name"], "problem": bool(r.get("problem"))}
            for r in load("clock_event_reasons")["reasons"]]


def problem_reason_keys() -> frozenset[str]:
    """Keys of the reasons that are faults ("hw_slowdown", ...), as the proof script names them."""
    return frozenset(r["key"] for r in clock_event_reasons() if r["problem"])


def problem_reason_names() -> frozenset[str]:
    """Names of the same reasons ("HW Slowdown", ...), as nvidia-smi and the GPU facts name them."""
    return frozenset(r["name"] for r in clock_event_reasons() if r["problem"])


def datacenter_gpus() -> dict:
    """{"brands", "name_words", "not_if"}: how a product name tells a data-center GPU."""
    d = load("datacenter_gpus")
    return {"brands": list(d["brands"]), "name_words": list(d["name_words"]), "not_if": list(d["not_if"])}


# What each script reads (a script is sent only what it uses; neither classifies GPUs).
PROBE = {"secret_name_words": lambda: list(secret_name_words()), "secret_shapes": secret_shapes}
PROOF = {"clock_event_reasons": clock_event_reasons}


def vocabulary(parts: dict) -> dict:
    return {name: get() for name, get in parts.items()}


def with_vocabulary(source: str, parts: dict) -> str:
    """`source` with its `VOCABULARY = None` line replaced by the vocabulary `parts` names."""
    lines = source.split("\n")
    at = [i for i, line in enumerate(lines) if line == MARKER]
    if len(at) != 1:  # a bug of ours: the script lost (or doubled) its marker line
        raise RuntimeError(f"the script has {len(at)} '{MARKER}' lines, expected one")
    text = json.dumps(vocabulary(parts), sort_keys=True, separators=(",", ":"))  # ASCII: a plain str literal
    lines[at[0]] = f"VOCABULARY = json.loads({text!r})"
    return "\n".join(lines)
