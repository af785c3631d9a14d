"""A check name a user reads must be one they can look up: every `(check_id)` in what the built-in checks
write and every `check.<id>` a shipped playbook tests is a check of the catalog (issue 20: a fix said
"(cuda_driver_compat)", a check that does not exist; it is driver_cuda_compat)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from envdoctor.diagnosis.catalog import builtin_checks_dir, load_catalog

IDS = {c.id for c in load_catalog()}
# a name in parentheses, as the report writes check ids: "(driver_cuda_compat)"
IN_PARENS = re.compile(r"\(([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\)")


def strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module, f-strings' literal parts included (ast gives those as constants)."""
    return [(n.lineno, n.value) for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@pytest.mark.parametrize("path", sorted(builtin_checks_dir().glob("*.py")), ids=lambda p: p.name)
def test_check_names_in_the_checks_own_words_exist(path):
    named = [(line, m.group(1)) for line, text in strings(path) for m in IN_PARENS.finditer(text)]
    assert [(line, name) for line, name in named if name not in IDS] == []


def test_check_names_the_playbooks_test_exist():
    named = {(p.name, m) for p in Path("playbooks").glob("*.yml") for m in re.findall(r"\bcheck\.([a-z0-9_]+)",
                                                                                      p.read_text())}
    assert named and {(p, m) for p, m in named if m not in IDS} == set()


def test_the_driver_security_fix_names_the_compatibility_check():
    assert "driver_cuda_compat" in IDS and "cuda_driver_compat" not in IDS
    texts = [t for _, t in strings(builtin_checks_dir() / "security_nvidia.py")]
    assert any("(driver_cuda_compat)" in t for t in texts)
