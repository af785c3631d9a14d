"""The wheel ships the engine, the check catalog and the playbooks: build it, install it into a fresh
venv and run `envdoctor check` there."""

import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_checks(tmp_path):
    # --no-build-isolation: build with the setuptools already here (CI may not reach an index).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("envdoctor-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped_checks = {n for n in names if n.startswith("envdoctor/checks/") and n.endswith(".py")}
    repo_checks = {f"envdoctor/checks/{p.name}" for p in (ROOT / "checks").glob("*.py")}
    assert repo_checks <= shipped_checks
    repo_playbooks = {f"envdoctor/playbooks/{p.name}" for p in (ROOT / "playbooks").glob("*.yml")}
    assert repo_playbooks <= set(names)
    assert {"envdoctor/probe/script/main.py", "envdoctor/proof/script/launch.py"} <= set(names)  # the sent scripts
    assert "envdoctor/playbooks/README.md" in names  # the when: language, next to the playbooks
    assert {"envdoctor/report/html_page.html", "envdoctor/report/html_page.js", "envdoctor/slurm/task.py"} <= set(names)
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names), names

    # A fresh venv; dependencies come from this interpreter's site-packages (no index needed).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    where = subprocess.run([str(py), "-c", "import envdoctor; print(envdoctor.__file__)"], capture_output=True,
                           text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed wheel, not the source tree

    listed = subprocess.run([str(venv / "bin" / "envdoctor"), "list", "--json"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    ids = {c["id"] for c in json.loads(listed.stdout)}
    assert ids, "the installed wheel found no checks"

    res = subprocess.run([str(venv / "bin" / "envdoctor"), "check", "--json", "--html", "r.html"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)
    assert (tmp_path / "r.html").exists(), res.stderr[-2000:]  # read the error before the file
    assert "heatmap" in (tmp_path / "r.html").read_text()  # the page's assets came with the wheel
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    assert doc["version"] == 1 and doc["hosts"][0]["host"] == socket.gethostname()
    assert {c["id"] for c in doc["hosts"][0]["checks"]} == ids
