"""The scripts sent to targets (the probe, the proof script) are written as small modules and assembled into one
payload each (envdoctor/payload.py). What is sent must stay what a target can run: one file, no envdoctor,
Python 3.6's grammar, the standard library only (the proof script: plus torch, torchvision and pynvml, inside
the functions that use them)."""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import os
import shutil
import subprocess
import sys
import symtable
import textwrap
from importlib.resources import files

import pytest

from envdoctor.payload import PartError, assemble
from envdoctor.probe import SOURCE as PROBE_SOURCE
from envdoctor.probe.script import child_scripts
from envdoctor.proof import SOURCE as PROOF_SOURCE
from envdoctor.proof import STDIN as PROOF_STDIN

PROBE, PROOF = "envdoctor.probe.script", "envdoctor.proof.script"
STDLIB = sys.stdlib_module_names

# Where the proof script imports something outside the standard library, as it did when it was one file: the
# parent never imports torch (it must hold no CUDA state); the workers and the DataLoader's dataset do.
PROOF_THIRD_PARTY = {
    ("Sampler.setup", "pynvml"),
    ("rendezvous", "torch.distributed"),
    ("run_worker", "torch"), ("run_worker", "torch.distributed"), ("run_worker", "torch.nn.functional"),
    ("run_worker", "torchvision"), ("run_worker", "torch.nn.parallel"),
    ("run_worker.should_stop", "torch.distributed"),
    ("agreed_min", "torch.distributed"),
    ("run_accept_worker", "torch"), ("run_accept_worker", "torch.distributed"),  # node acceptance's worker
    ("SyntheticImages.__init__", "torch"), ("SyntheticImages.__getitem__", "torch"),
    ("SyntheticImages.__getitem__", "torch.nn.functional"),
}


def imports(source: str) -> set[tuple[str, str]]:
    """(where, module) of every import in `source`: where is the enclosing function or class, "" at module level."""
    found = set()

    def walk(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{where}.{child.name}" if where else child.name
            if isinstance(child, ast.Import):
                found.update((where, a.name) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"a relative import left in the payload: {ast.dump(child)}"
                found.add((where, child.module))
            walk(child, inner)

    walk(ast.parse(source), "")
    return found


def third_party(source: str) -> set[tuple[str, str]]:
    return {(where, m) for where, m in imports(source) if m.split(".")[0] not in STDLIB}


def old_python() -> str | None:
    """A Python 3.6 interpreter, the oldest a target may run: on PATH, or one pyenv has installed."""
    found = [shutil.which("python3.6")]
    if shutil.which("pyenv"):
        bare = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True).stdout.split()
        prefixes = [subprocess.run(["pyenv", "prefix", v], capture_output=True, text=True).stdout.strip()
                    for v in bare if v.startswith("3.6.")]
        found += [os.path.join(p, "bin", "python3") for p in prefixes if p]
    for exe in (f for f in found if f):
        ok = subprocess.run([exe, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"], capture_output=True)
        if ok.returncode == 0:  # (a pyenv shim answers but runs nothing)
            return exe
    return None


# ---- the grammar and the imports of what is sent

@pytest.mark.parametrize("source", [PROBE_SOURCE, PROOF_SOURCE, PROOF_STDIN.decode()],
                         ids=["probe", "proof", "proof-stdin"])
def test_the_sent_scripts_parse_as_python_3_6(source):
    ast.parse(source, feature_version=(3, 6))


def test_the_probes_child_scripts_parse_as_python_3_6_and_import_only_torch_beyond_the_stdlib():
    for name in ("TORCH_SCRIPT", "CUDA_API_SCRIPT", "NVML_SCRIPT"):
        source = getattr(child_scripts, name)
        ast.parse(source, feature_version=(3, 6))
        assert {m.split(".")[0] for _, m in third_party(source)} <= {"torch", "torchvision"}, name


def test_the_probe_imports_nothing_outside_the_standard_library():
    found = imports(PROBE_SOURCE)
    assert {m for _, m in found} >= {"json", "subprocess", "threading"}  # the walk sees the imports
    assert not third_party(PROBE_SOURCE), third_party(PROBE_SOURCE)


def test_the_proof_script_imports_torch_torchvision_and_pynvml_only_where_it_did():
    assert third_party(PROOF_SOURCE) == PROOF_THIRD_PARTY
    assert not [m for where, m in imports(PROOF_SOURCE) if where == "" and m.split(".")[0] not in STDLIB]


def test_every_part_imports_what_it_uses():
    """A part is also a module of its own (its tests import it): a name the payload would find only because the
    parts share one file there is a name the part must import."""
    for package in (PROBE, PROOF):
        for part in importlib.import_module(package).PARTS:
            source = files(package).joinpath(f"{part}.py").read_text()
            top = symtable.symtable(source, part, "exec")
            defined = {s.get_name() for s in top.get_symbols()
                       if s.is_assigned() or s.is_imported() or s.is_namespace()}
            used = set()

            def walk(table):
                used.update(s.get_name() for s in table.get_symbols()
                            if s.is_global() or (table is top and s.is_referenced()))
                for child in table.get_children():
                    walk(child)

            walk(top)
            missing = {n for n in used - defined if not hasattr(builtins, n)} - {"__name__", "__file__"}
            assert not missing, f"{package}.{part} uses {sorted(missing)} without importing them"


# ---- the payload runs stand-alone: no envdoctor, no site-packages

def test_probe_runs_stand_alone(tmp_path):
    r = subprocess.run([sys.executable, "-I", "-S", "-c", "import envdoctor"], capture_output=True, cwd=tmp_path)
    assert r.returncode != 0  # what the run below relies on: envdoctor cannot be imported there
    r = subprocess.run([sys.executable, "-I", "-S", "-", "--no-torch"], input=PROBE_SOURCE, capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert "vocabulary_missing" not in doc and {"environment", "sec_jupyter", "proc_modules"} <= set(doc["sections"])
    assert not [n for n, s in doc["sections"].items() if (s["error"] or "").startswith("probe error")]


@pytest.fixture
def no_envdoctor(tmp_path):
    """PYTHONPATH naming a package `envdoctor` that fails to import: a process that looks for envdoctor finds
    it first and fails (the proof script re-executes itself and spawns workers, which read PYTHONPATH)."""
    (tmp_path / "poison" / "envdoctor").mkdir(parents=True)
    (tmp_path / "poison" / "envdoctor" / "__init__.py").write_text(
        'raise ImportError("envdoctor is not installed on a target")\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "poison"))
    r = subprocess.run([sys.executable, "-c", "import envdoctor"], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert "not installed on a target" in r.stderr  # the poison is what an import finds
    return env


def test_proof_script_trains_stand_alone_on_the_cpu(tmp_path, no_envdoctor):
    argv = ["--device", "cpu", "--time-budget", "240", "--steps", "2", "--warmup", "1", "--image-size", "32",
            "--batch-size", "8"]
    r = subprocess.run([sys.executable, "-I", "-S", "-"] + argv, input=PROOF_STDIN, capture_output=True, timeout=300,
                       env=no_envdoctor, cwd=tmp_path)
    doc = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert doc["event"] == "result" and doc["error"] is None and doc["ended_by"] == "results", r.stderr[-2000:]
    w = doc["workers"][0]
    assert w.get("error") is None and w["phases"]["timed"]["steps"] == 2, w.get("traceback")
    assert doc["parent_torch_imported"] is False and "vocabulary_missing" not in doc


def test_the_sent_scripts_run_on_python_3_6(tmp_path):
    """The oldest Python a target may have: the probe runs (torch is not there: said so in its section), and the
    proof script's parent re-executes itself, spawns its worker and reports that worker's missing torch."""
    py36 = old_python()
    if py36 is None:
        pytest.skip("no Python 3.6 interpreter here (on PATH or through pyenv)")
    r = subprocess.run([py36, "-I", "-S", "-"], input=PROBE_SOURCE, capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert json.loads(doc["sections"]["torch"]["stdout"])["python"].startswith("3.6.")
    assert not [n for n, s in doc["sections"].items() if (s["error"] or "").startswith("probe error")]

    r = subprocess.run([py36, "-I", "-S", "-", "--device", "cpu", "--time-budget", "60"], input=PROOF_STDIN,
                       capture_output=True, timeout=120, cwd=tmp_path)
    doc = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert doc["python"].startswith("3.6.") and doc["ended_by"] == "results", r.stderr[-2000:]
    assert doc["error"].startswith("cannot import torch/torchvision") and "torch" in doc["workers"][0]["error"]


# ---- the rules of assembly

def _package(tmp_path, monkeypatch, name: str, parts: dict[str, str]) -> str:
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f'"""A test script."""\nPARTS = {tuple(parts)!r}\n')
    for part, body in parts.items():
        (pkg / f"{part}.py").write_text(textwrap.dedent(body).lstrip("\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)  # a package of that name from another case
    importlib.invalidate_caches()
    return name


def test_assembly_keeps_each_part_in_order_and_each_stdlib_import_once(tmp_path, monkeypatch):
    name = _package(tmp_path, monkeypatch, "payload_ok", {
        "first": '''
            """The first part."""
            import json
            import os

            VOCABULARY = None
            X = 1
            ''',
        "second": '''
            """The second part."""
            import json

            from .first import X


            def main():
                return json.dumps(X + 1)


            if __name__ == "__main__":
                print(main())
            '''})
    out = assemble(name)
    assert out.startswith("# A test script.\nimport json\nimport os\n")
    assert out.count("import json") == 1 and "from .first" not in out and "# The second part." in out
    assert out.index("X = 1") < out.index("def main():")
    r = subprocess.run([sys.executable, "-I", "-S", "-"], input=out, capture_output=True, text=True)
    assert r.stdout == "2\n", r.stderr


@pytest.mark.parametrize("parts,said", [
    ({"a": "import yaml\n"}, "imports yaml at module level"),
    ({"a": "from envdoctor.knowledge import load\n"}, "imports envdoctor.knowledge at module level"),
    ({"a": "from .b import Y\n", "b": "Y = 1\n"}, "a part imports only earlier parts"),
    ({"a": "Y = 1\n", "b": "from .a import Y as Z\n"}, "does not define it under that name"),
    ({"a": "Y = 1\n", "b": "def Y():\n    pass\n"}, "defines Y, which payload_bad.a defines too"),
    ({"a": "import os\n", "b": "os = None\n"}, "os both imported and defined"),
    ({"a": "if __name__ == '__main__':\n    pass\n", "b": "Y = 1\n"}, "only the last part may run the script"),
])
def test_a_part_that_breaks_a_rule_is_named(tmp_path, monkeypatch, parts, said):
    with pytest.raises(PartError, match=said):
        assemble(_package(tmp_path, monkeypatch, "payload_bad", parts))
