"""One reasoning path: failure knowledge lives in the data files (data/signatures/), not in code.

Fails when a Python string of envdoctor/ or checks/ holds a failure message the knowledge base
recognises (a classifier of its own), or when a check builds a cause text or a Fix instead of naming a
cause id (catalog.from_cause). Docstrings are explanations for `envdoctor explain`, not classifiers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from envdoctor.knowledge import signatures

ROOT = Path(__file__).resolve().parent.parent

# Messages users paste; each is the knowledge base's to recognise.
KNOWN_PHRASES = ["couldn't communicate with the NVIDIA driver", "system not yet initialized",
                 "Found no NVIDIA driver", "Driver/library version mismatch",
                 "forward compatibility was attempted", "no kernel image is available",
                 "No CUDA GPUs are available", "Torch not compiled with CUDA enabled",
                 "CUDA driver version is insufficient", "busy or unavailable",
                 "unknown or invalid runtime name", "could not select device driver"]

# Files allowed to hold message phrases, with the reason. Keep it short; shrink it.
PHRASE_ALLOWED = {
    "envdoctor/probe/script/child_scripts.py": "runs on the target without the knowledge base: NVML's error names",
    "envdoctor/parsers/nvidia_smi.py": "_NO_SUCH_COMMAND: the shell's 'command not found' for nvidia-smi, a fact about the binary",
    "envdoctor/parsers/paste_blocks.py": "recognises pasted blocks (prompts, tables), its owner's",
    "envdoctor/proof/script/batch_size.py": "runs on the target without the knowledge base (OOM retry)",
    "envdoctor/proof/script/sampler.py": "runs on the target without the knowledge base (its own sampler error)",
    "envdoctor/proof/script/worker.py": "runs on the target without the knowledge base (--inject-failure's OOM)",
    "envdoctor/proof/verdict.py": "the proof-run's own verdict texts",
}

# Check modules allowed to write their own cause texts / Fix, with the reason.
CAUSE_TEXT_ALLOWED = {
    "security_docker.py": "security findings: hardening advice, not a failure diagnosis",
    "security_jupyter.py": "security findings: hardening advice, not a failure diagnosis",
    "security_nvidia.py": "security findings: bulletins to upgrade past, not a failure diagnosis",
    "security_sshd.py": "security findings: hardening advice, not a failure diagnosis",
    "torch_cuda_available.py": "only the 'not determined' fallback (what to run to see CUDA's error)",
}


def _literal(pattern: str) -> str | None:
    """The text a pattern matches when it is a plain phrase ('a\\.b' -> 'a.b'), else None."""
    text = re.sub(r"\\([.()\[\]/+?*{}|^$-])", r"\1", pattern)
    if re.search(r"[\\\[\](){}|^$*+?]", re.sub(r"\\([.()\[\]/+?*{}|^$-])", "", pattern)):
        return None
    return text if len(text) >= 20 else None


def _phrases() -> list[str]:
    kb = signatures()
    found = {_literal(p) for s in kb.signatures if not s.info for p in s.patterns}
    return sorted({p.lower() for p in found | set(KNOWN_PHRASES) if p})


def _strings(path: Path):
    """(line, text) of every string constant that is not a docstring."""
    tree = ast.parse(path.read_text())
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def _py_files():
    for folder in ("envdoctor", "checks"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_phrases_are_plain_text_of_the_knowledge_base():
    assert len(_phrases()) > 40  # the derivation finds the knowledge base's literal messages


def test_no_failure_message_outside_the_data_files():
    phrases = _phrases()
    found = []
    for path in _py_files():
        rel = str(path.relative_to(ROOT))
        if rel in PHRASE_ALLOWED:
            continue
        for line, text in _strings(path):
            plain = re.sub(r"\\(.)", r"\1", text).lower()  # a regex in code: compare its unescaped text
            found += [f"{rel}:{line}: {p!r}" for p in phrases if p in plain]
    assert not found, "failure messages belong to data/signatures/*.yaml:\n" + "\n".join(found)


def _builds_cause_text(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        if name == "Fix":
            out.append(f"{path.name}:{node.lineno}: builds a Fix")
        elif name in ("fail", "warn") and any(k.arg in ("cause", "fix") for k in node.keywords):
            out.append(f"{path.name}:{node.lineno}: {name}(cause=/fix=)")
    return out


def test_checks_take_cause_and_fix_from_the_knowledge_base():
    found = []
    for path in sorted((ROOT / "checks").glob("*.py")):
        if path.name in CAUSE_TEXT_ALLOWED:
            continue
        found += _builds_cause_text(path)
    assert not found, "name a cause id with catalog.from_cause instead:\n" + "\n".join(found)


def test_the_allow_lists_name_real_offenders():
    # an entry that no longer needs its exception is removed, so the lists only shrink
    stale = [n for n in CAUSE_TEXT_ALLOWED if not _builds_cause_text(ROOT / "checks" / n)]
    assert not stale, f"no longer building cause texts, drop from CAUSE_TEXT_ALLOWED: {stale}"
    assert all((ROOT / rel).is_file() for rel in PHRASE_ALLOWED)


def test_every_cause_id_a_check_names_exists():
    causes = signatures().causes
    named = set()
    for path in sorted((ROOT / "checks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "from_cause" and len(node.args) >= 3:
                arg = node.args[2]
                if isinstance(arg, ast.Constant):
                    named.add(arg.value)
    assert named and named <= set(causes), named - set(causes)
