"""Every command the README shows in its code blocks, run as a reader would on this GPU-less machine, with the outcome
that machine gives (exit status and a line the reader looks for): the README cannot drift from the CLI.

A README command without an entry in COMMANDS fails the first test (say what it does here); an entry the README no
longer shows fails it too. Commands that need SSH hosts, Slurm or a GPU are skipped with the reason, and so are
those that would change this machine (installs) or run the suite itself. Where a command names a file the reader
has (bug.txt, inventory.ini, site-checks/), the test writes one in a temporary directory first; where it names a
system path (the Prometheus textfile directory), the file goes to the temporary directory instead."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from tests.corpus import corpus_body

README = Path(__file__).resolve().parents[1] / "README.md"


def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """The README's fenced code blocks: (language, lines)."""
    blocks, lang, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, lines = line[3:].strip(), []
            else:
                blocks.append((lang, lines))
                lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


def readme_commands() -> list[str]:
    """Each line of the plain (shell) code blocks, its trailing comment cut off; comment lines dropped."""
    out = []
    for lang, lines in code_blocks(README.read_text()):
        if lang:
            continue  # ```python: the check example, used by the --checks-dir entry below
        for line in lines:
            cmd = re.sub(r"\s+#\s.*$", "", line).strip()
            if cmd and not cmd.startswith("#") and cmd not in out:
                out.append(cmd)
    return out


def site_check_example() -> str:
    (example,) = [lines for lang, lines in code_blocks(README.read_text()) if lang == "python"]
    return "\n".join(example) + "\n"


@dataclass
class Run:
    rc: int | tuple[int, ...]  # the exit status on this GPU-less machine (a tuple: any of them)
    says: str  # a line (or part of one) the reader looks for, in stdout or stderr
    slow: bool = False  # gathers this machine's facts or trains: seconds on a busy machine
    setup: Callable[[Path], None] | None = None  # files the reader has, written into the working directory
    replace: dict[str, str] = field(default_factory=dict)  # a system path the test must not write to -> {tmp}
    wrote: str | None = None  # a file the command must have written


@dataclass
class Skip:
    reason: str


SSH = Skip("needs SSH hosts to reach (the sshd test hosts' tests cover these forms: tests/hosts/, tests/cli/)")
SLURM = Skip("needs a Slurm cluster (tests/slurm/ runs these against a real one, as root)")
GPU = Skip("needs a GPU; without one it ends as `envdoctor proof` does (CUDA enumerates no device, exit 1)")
INSTALL = Skip("installs into this environment, and tests never change the machine; the extras it names are "
               "checked by test_the_install_extras_the_readme_names_exist")
FILE = Skip("a line of slurm.conf or of the health-check script it names: a file's content, run by slurmd")


def _bug_txt(d: Path) -> None:
    # a real paste: torch's "driver too old (found version 11040)" with /proc/driver/nvidia/version
    (d / "bug.txt").write_text(corpus_body("errors/torch-driver-too-old-11040-with-proc-version.txt"))


def _nvidia_smi(d: Path) -> None:
    # no nvidia-smi on this machine: a real one's output stands in for it (a shell function of that name)
    (d / "nvidia-smi.txt").write_text(
        corpus_body("cases/blind-1-torch-python/healthy--btop-865-nvidia-smi-4x-a100-80gb-550.txt"))


def _inventory(d: Path) -> None:
    (d / "inventory.ini").write_text("[workers]\ngpu01\ngpu02 ansible_port=2222\n")


def _site_checks(d: Path) -> None:
    (d / "site-checks").mkdir()
    (d / "site-checks" / "site_min_memory.py").write_text(site_check_example())


def _venv(d: Path) -> None:
    # `~/venvs/train/bin/python`: HOME is the working directory, and this interpreter stands for that venv's
    (d / "venvs" / "train" / "bin").mkdir(parents=True)
    (d / "venvs" / "train" / "bin" / "python").symlink_to(sys.executable)


VERDICT = "Verdict: this host cannot train on a GPU"  # this machine has no GPU: the local report fails
COMMANDS: dict[str, Run | Skip] = {
    # Getting started
    "python3 -m pip install .": INSTALL,
    "envdoctor check --no-proof": Run(1, VERDICT, slow=True),
    "envdoctor fix --check --diff": Run(1, "plan:", slow=True),
    "envdoctor proof": Run(1, "CUDA enumerates no device", slow=True),
    "envdoctor check 'gpu[01-04]'": SSH,
    # Install
    "python3 -m pip install '.[proof]'": INSTALL,
    # Use
    "envdoctor check": Run(1, VERDICT, slow=True),
    "envdoctor check --python ~/venvs/train/bin/python": Run(1, VERDICT, slow=True, setup=_venv),
    "envdoctor check --json": Run(1, '"root_cause"', slow=True),
    "envdoctor check --from bug.txt": Run(1, "Root cause: driver_too_old", setup=_bug_txt),
    "nvidia-smi | envdoctor check --from -": Run(0, "Read: nvidia-smi", slow=True, setup=_nvidia_smi),
    "envdoctor facts --bundle ev.tar.gz": Run(0, "", slow=True, wrote="ev.tar.gz"),
    "envdoctor list": Run(0, "driver_cuda_compat"),
    "envdoctor explain ID": Run(0, "driver_cuda_compat: NVIDIA driver supports torch's CUDA version",
                                replace={"ID": "driver_cuda_compat"}),
    "envdoctor proof --dataloader": GPU,
    "envdoctor proof --precision bf16": GPU,
    # a CPU run reaches its verdict well within the default 60 s budget; where a loaded machine keeps it from any
    # timed step the verdict is unknown (exit 3): either way it says no GPU was used
    "envdoctor proof --device cpu --allow-cpu": Run((0, 3), "no GPU was used", slow=True),
    "envdoctor check --checks-dir site-checks/": Run(1, "(site_min_memory)", slow=True, setup=_site_checks),
    # Remote hosts and fleets
    "envdoctor check gpu[01-16]": SSH,
    "envdoctor check ml@gpu07:2222 myalias": SSH,
    "envdoctor check -i inventory.ini --limit workers": SSH,
    "envdoctor check -i inventory.yml @workers --golden gpu01": SSH,
    "envdoctor hosts -i inventory.ini": Run(0, "gpu02  ssh gpu02:2222", setup=_inventory),
    # an empty "$HOSTS" is refused: exit 2, one line
    'envdoctor check "$HOSTS"': Run(2, "empty"),
    # Inside Slurm
    "envdoctor check --slurm -p gpu": SLURM,
    "envdoctor check --slurm -w 'gpu[001-128]' --no-proof --html fleet.html": SLURM,
    "envdoctor proof --slurm -w 'gpu[01-04]'": SLURM,
    "envdoctor proof --slurm --multi-node -w 'gpu[01-04]' --gpus-per-node 8": SLURM,
    "HealthCheckProgram=/usr/local/bin/envdoctor-health": FILE,
    "HealthCheckInterval=300": FILE,
    "export PATH=/usr/local/bin:/usr/bin:/bin SLURM_CONF=/etc/slurm/slurm.conf": FILE,
    "exec envdoctor health --no-torch": FILE,
    # Accepting a node: without a GPU the run goes to the CPU, every figure is unknown with its reason, and a run
    # that judged nothing exits 3
    "envdoctor accept": Run(3, "Every figure is unknown", slow=True),
    "envdoctor accept --quick": Run(3, "Every figure is unknown", slow=True),
    "envdoctor accept --slurm -p gpu --quick": SLURM,
    "envdoctor accept 'gpu[01-64]' --html accept.html": SSH,
    # Outputs
    "envdoctor check gpu[01-16] --junit report.xml": SSH,
    "envdoctor check --prometheus /var/lib/prometheus/node-exporter/envdoctor.prom": Run(
        1, VERDICT, slow=True, replace={"/var/lib/prometheus/node-exporter/": "{tmp}/"}, wrote="envdoctor.prom"),
    "envdoctor check -i inventory.ini --html fleet.html": SSH,
    # Fixing
    "envdoctor fix gpu01 --check --diff": SSH,
    "envdoctor fix gpu01": SSH,
    "envdoctor play onboard-node.yml 'gpu[01-64]' --check --diff": SSH,
    # Test
    "bash tests/run.sh": Skip("the whole suite, as root (this test is part of it)"),
    "python3 -m pip install -e '.[test]'": INSTALL,
    'python3 -m pytest -m "not slow"': Skip("the fast tier, which runs this test"),
}


def test_every_readme_command_has_its_expected_outcome_here():
    shown = readme_commands()
    missing = [c for c in shown if c not in COMMANDS]
    gone = [c for c in COMMANDS if c not in shown]
    assert not missing, f"README commands with no expected outcome in COMMANDS (add one): {missing}"
    assert not gone, f"COMMANDS entries the README no longer shows (remove them): {gone}"


def test_the_readme_and_health_help_name_the_same_health_script():
    """The script slurm.conf's HealthCheckProgram names: the README's and `envdoctor health --help`'s are one path."""
    readme = set(re.findall(r"HealthCheckProgram=(\S+)", README.read_text()))
    r = CliRunner().invoke(main, ["health", "--help"], terminal_width=200)
    helped = set(re.findall(r"HealthCheckProgram=(\S+)", r.output))
    assert r.exit_code == 0 and len(helped) == 1, r.output
    assert readme == helped, f"README names {sorted(readme)}, envdoctor health --help names {sorted(helped)}"
    # ... and the README's script comment names the path it defines
    (path,) = helped
    assert f"# {path} (slurmd starts it" in README.read_text()


def test_explain_takes_the_root_cause_id_the_readme_names():
    (line,) = [ln for ln in README.read_text().splitlines() if ln.startswith("envdoctor explain ID")]
    (cause,) = re.findall(r"a root cause the report names \((\w+)\)", line)
    r = CliRunner().invoke(main, ["explain", cause])
    assert r.exit_code == 0 and r.output.startswith(f"{cause} (a root cause): "), r.output


def test_the_install_extras_the_readme_names_exist():
    import tomllib

    extras = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {m for c in readme_commands() if "pip install" in c for m in re.findall(r"\.\[(\w+)\]", c)}
    assert named == {"proof", "test"} and named <= set(extras)
    assert {"torch", "torchvision"} <= {re.split(r"[<>=\[ ]", r)[0] for r in extras["proof"]}


def _params():
    for cmd, what in COMMANDS.items():
        if isinstance(what, Skip):
            yield pytest.param(cmd, what, id=cmd, marks=pytest.mark.skip(reason=what.reason))
        else:
            yield pytest.param(cmd, what, id=cmd, marks=[pytest.mark.slow] if what.slow else [])


@pytest.mark.parametrize("cmd,what", list(_params()))
def test_readme_command(cmd, what, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    if what.setup:
        what.setup(tmp_path)
    line = cmd
    for old, new in what.replace.items():
        line = line.replace(old, new.format(tmp=tmp_path))
    if "|" in line or "$" in line:
        # shell syntax (a pipe, a variable): run by bash, with envdoctor and nvidia-smi as functions
        prelude = (f'envdoctor() {{ {shlex.quote(sys.executable)} -m envdoctor "$@"; }}; '
                   'nvidia-smi() { cat nvidia-smi.txt; }; HOSTS=; ')
        env = dict(os.environ, PYTHONPATH=str(README.parent))
        p = subprocess.run(["bash", "-c", prelude + line], capture_output=True, text=True, timeout=300, env=env,
                           stdin=subprocess.DEVNULL)
        rc, out = p.returncode, p.stdout + p.stderr
    else:
        words = [os.path.expanduser(w) for w in shlex.split(line)]
        assert words[0] == "envdoctor", line
        r = CliRunner().invoke(main, words[1:])
        rc, out = r.exit_code, r.stdout + r.stderr
        assert r.exception is None or isinstance(r.exception, SystemExit), out  # no traceback for the reader
    assert rc in (what.rc if isinstance(what.rc, tuple) else (what.rc,)), f"{line}: exit {rc}\n{out}"
    assert what.says in out, f"{line}: {what.says!r} not in\n{out}"
    assert "Traceback" not in out, out
    if what.wrote:
        assert (tmp_path / what.wrote).stat().st_size > 0
    if rc == 2:
        assert len(out.strip().splitlines()) == 1, out  # bad input: one clear line
