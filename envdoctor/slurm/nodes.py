"""Slurm: a node's state and reason (sinfo), draining and resuming it (scontrol), and running a script on
many nodes as one srun step, one task per node. The pure parts (parsing, the drain reason, what the
health check should do) are separate from the few functions that call Slurm's commands.

The health check drains a node with a reason that starts with `envdoctor: `; that prefix is how it
recognises its own drains, so it returns to service only nodes it drained itself, never an admin's.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import socket
import subprocess
import time
import zlib
from dataclasses import dataclass
from importlib.resources import files

from envdoctor.errors import UserError
from envdoctor.facts import HostFacts
from envdoctor.hosts.transport.base import CommandResult, Transport
from envdoctor.models import CheckResult, Status
from envdoctor.printable import printable
from envdoctor.redact import redact

REASON_PREFIX = "envdoctor: "
REASON_MAX = 100  # sinfo -R shows the reason on one line; keep it readable there
TASK_SOURCE: str = files("envdoctor.slurm").joinpath("task.py").read_text()
FRAME = "@envdoctor-frame "
SINFO_FORMAT = "%N|%T|%E"  # reason last: it may hold the separator
UNAVAILABLE = ("drain", "down", "fail", "maint", "reboot", "future", "inval", "power")


class SlurmError(UserError):
    """A Slurm command is missing or refused (no controller, unknown node, not allowed)."""


# ------------------------------------------------------------------ node state (pure)

@dataclass
class NodeState:
    name: str
    state: str  # sinfo's long state, e.g. idle, mixed, drained, draining, down*
    reason: str | None  # None when sinfo shows "none"

    @property
    def drained(self) -> bool:
        return "drain" in self.state

    @property
    def drained_by_us(self) -> bool:
        return self.drained and (self.reason or "").startswith(REASON_PREFIX)

    @property
    def available(self) -> bool:
        """Can run a new step: not drained, down, failing, in maintenance, or not responding (`*`)."""
        return not self.state.endswith("*") and not any(w in self.state for w in UNAVAILABLE)


def parse_sinfo_nodes(text: str) -> list[NodeState]:
    """`sinfo -h -N -o '%N|%T|%E'` lines -> one NodeState per node (sinfo -N repeats a node once per
    partition it is in: kept once)."""
    seen: dict[str, NodeState] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|", 2)
        if len(parts) != 3:
            raise SlurmError(f"unexpected sinfo line: {line[:120]!r}")
        name, state, reason = (p.strip() for p in parts)
        seen.setdefault(name, NodeState(name, state, None if reason in ("", "none", "(null)") else reason))
    return list(seen.values())


def drain_reason(problems: list[CheckResult]) -> str:
    """`envdoctor: <check id>: <summary>` for the first problem, `(+N more)` for the others, on one line and
    at most REASON_MAX characters."""
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    # The reason reaches sinfo -R, the slurmctld log and every admin's terminal: whitespace runs become one
    # space, then any control character left is shown as its escape, before the length is cut.
    text = f"{REASON_PREFIX}{printable(first.id)}: " + printable(" ".join(redact(first.summary).split()))
    if len(text) + len(more) > REASON_MAX:
        text = text[:REASON_MAX - len(more) - 3].rstrip() + "..."
    return text + more


def drain_statuses(drain_on: str) -> set[Status]:
    """--drain-on fail: only failed checks drain; warn: warnings too."""
    return {Status.FAIL} if drain_on == "fail" else {Status.FAIL, Status.WARN}


# The checks that judge a GPU, its driver or CUDA: on a node with no NVIDIA device at all (a CPU node)
# they fail by design, not by a fault, so there they do not drain unless --require-gpu says the node is
# a GPU node. root_cause is among them: it names what the others found (no GPU on the bus).
GPU_CHECKS = frozenset({
    "root_cause", "gpu_present", "nouveau", "driver_loaded", "nvml_version_mismatch", "fabric_manager", "mig_config",
    "xid_errors", "ecc_errors", "persistence_mode", "throttling", "pcie_link", "driver_cuda_compat",
    "torch_arch_support", "cuda_visible_devices", "torch_cuda_available"})


def no_nvidia_device(facts: HostFacts | None) -> bool:
    """No NVIDIA device on the PCI bus (the bus was read: unknown is not "none") and no NVIDIA driver or
    nvidia-smi GPU: a CPU node."""
    if facts is None:
        return False
    g = facts.gpu
    return g.pci_gpus == [] and not g.gpus and not g.kernel_module_loaded and not g.nvidia_modules


def drained_problems(problems: list[CheckResult], facts: HostFacts | None, require_gpu: bool) -> list[CheckResult]:
    """The problems that drain the node: on a CPU node (and without --require-gpu) not the GPU checks'."""
    if require_gpu or not no_nvidia_device(facts):
        return problems
    return [r for r in problems if r.id not in GPU_CHECKS]


@dataclass
class Action:
    kind: str  # "drain", "resume" or "none"
    node: str
    reason: str | None = None  # the drain reason to set
    why: str = ""  # one line for --check and for the log

    def describe(self) -> str:
        if self.kind == "drain":
            return f"would drain {self.node}: scontrol update nodename={self.node} state=drain reason=\"{self.reason}\""
        if self.kind == "resume":
            return f"would resume {self.node}: scontrol update nodename={self.node} state=resume ({self.why})"
        return f"nothing to do on {self.node}: {self.why}"


def plan_health(node: NodeState, problems: list[CheckResult]) -> Action:
    """What the health check does about `node` given the checks that should drain it."""
    if problems:
        reason = drain_reason(problems)
        if node.drained and not node.drained_by_us:
            return Action("none", node.name, why=f"already drained by someone else ({node.reason or 'no reason'}); "
                                                 f"left as it is; found {reason[len(REASON_PREFIX):]}")
        if node.drained_by_us and node.reason == reason:
            return Action("none", node.name, why=f"already drained by envdoctor: {reason}")
        return Action("drain", node.name, reason=reason, why=f"{len(problems)} check(s) failed")
    if node.drained_by_us:
        return Action("resume", node.name, why=f"healthy now; envdoctor had drained it: {node.reason}")
    if node.drained:
        return Action("none", node.name, why=f"healthy, but drained by someone else ({node.reason or 'no reason'}): "
                                             "only they return it to service")
    return Action("none", node.name, why="healthy")


# ------------------------------------------------------------------ Slurm's commands

def _slurm(argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
    if shutil.which(argv[0]) is None:
        raise SlurmError(f"{argv[0]} not found: is this a Slurm node (slurm-client installed, on PATH)?")
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{' '.join(argv[:3])} gave no answer within {timeout:.0f} s (slurmctld unreachable?)") from None
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[-1]
        raise SlurmError(f"{' '.join(argv[:3])}: {msg[:300]}")
    return r


def node_states(nodelist: str | None = None, partition: str | None = None, timeout: float = 30.0) -> list[NodeState]:
    argv = ["sinfo", "-h", "-N", "-o", SINFO_FORMAT]
    if nodelist:
        argv += ["-n", nodelist]
    if partition:
        argv += ["-p", partition]
    return parse_sinfo_nodes(_slurm(argv, timeout).stdout)


def node_state(name: str, timeout: float = 30.0) -> NodeState:
    states = node_states(name, timeout=timeout)
    if not states:
        raise SlurmError(f"Slurm does not know a node {name!r}")
    return states[0]


def expand_hostlist(hostlist: str) -> list[str]:
    """Slurm's own expansion of a hostlist expression (n[1-3,7],gpu01)."""
    return _slurm(["scontrol", "show", "hostnames", hostlist]).stdout.split()


def node_address(name: str) -> str:
    out = _slurm(["scontrol", "show", "node", name, "-o"]).stdout
    for field in out.split():
        if field.startswith("NodeAddr="):
            return field.split("=", 1)[1]
    return name


def apply(action: Action, timeout: float = 30.0) -> None:
    if action.kind == "drain":
        _slurm(["scontrol", "update", f"nodename={action.node}", "state=drain", f"reason={action.reason}"], timeout)
    elif action.kind == "resume":
        _slurm(["scontrol", "update", f"nodename={action.node}", "state=resume"], timeout)


# ------------------------------------------------------------------ one srun step over many nodes

def srun_argv(nodes: list[str], python: str, script_args: list[str], limit_s: float, *,
              partition: str | None = None, job_name: str = "envdoctor", extra: list[str] | None = None) -> list[str]:
    """One step, one task per node, the same stdin to every task, a Slurm time limit just above ours."""
    minutes = max(1, math.ceil((limit_s + 30) / 60))
    argv = ["srun", f"--nodelist={','.join(nodes)}", f"--nodes={len(nodes)}", f"--ntasks={len(nodes)}",
            "--ntasks-per-node=1", "--input=all", f"--job-name={job_name}", f"--time={minutes}",
            "--kill-on-bad-exit=0", "--quiet"]
    if partition:
        argv.append(f"--partition={partition}")
    argv += list(extra or [])
    return argv + [python, "-c", TASK_SOURCE, f"{limit_s:g}"] + list(script_args)


def parse_frames(stdout: str) -> dict[str, dict]:
    """Pure: the tasks' framed outputs -> {node: {rc, stdout, stderr, secs, timed_out}}. Lines
    that are not frames (srun's own messages) are ignored; a node whose frames are incomplete or do not
    decode is left out (reported as having given no result)."""
    parts: dict[str, dict[int, str]] = {}
    totals: dict[str, int] = {}
    for line in stdout.splitlines():
        if not line.startswith(FRAME):
            continue
        try:
            node, seq, chunk = line[len(FRAME):].split(" ", 2)
            i, n = (int(x) for x in seq.split("/"))
        except ValueError:
            continue
        parts.setdefault(node, {})[i] = chunk.strip()
        totals[node] = n
    out = {}
    for node, chunks in parts.items():
        if len(chunks) != totals[node]:
            continue
        try:
            out[node] = json.loads(zlib.decompress(base64.b64decode("".join(chunks[i] for i in sorted(chunks)))))
        except (ValueError, zlib.error):
            continue
    return out


@dataclass
class StepResult:
    results: dict[str, CommandResult]  # by node name
    rc: int | None
    stderr: str  # srun's own messages
    secs: float


def run_step(nodes: list[str], python: str, script: str, script_args: list[str], limit_s: float, *,
             partition: str | None = None, job_name: str = "envdoctor", env: dict | None = None) -> StepResult:
    """Run `script` on every node of `nodes` in one srun step and collect each node's output. `env`:
    variables added to the step's environment (srun passes the caller's on to every task)."""
    if shutil.which("srun") is None:
        raise SlurmError("srun not found: is this a Slurm login node (slurm-client installed, on PATH)?")
    argv = srun_argv(nodes, python, script_args, limit_s, partition=partition, job_name=job_name)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env={**os.environ, **(env or {})})
    try:
        out, err = p.communicate(script.encode(), timeout=limit_s + 90)  # queueing and start-up on top
    except subprocess.TimeoutExpired:
        p.terminate()  # srun passes it on: Slurm cancels the step
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
    frames = parse_frames(out.decode("utf-8", "replace"))
    results = {n: CommandResult(rc=None if d.get("timed_out") else d.get("rc"), stdout=d.get("stdout", ""),
                                stderr=d.get("stderr", ""), secs=float(d.get("secs") or 0.0),
                                timed_out=bool(d.get("timed_out"))) for n, d in frames.items()}
    return StepResult(results, p.returncode, err.decode("utf-8", "replace"), time.monotonic() - t0)


class Replay(Transport):
    """A transport that hands back what a node's task already printed in the srun step, so that the
    same code that reads a probe or a proof over SSH reads it here."""

    def __init__(self, name: str, result: CommandResult):
        self.name = name
        self.result = result

    def run(self, argv, stdin=None, timeout=60.0, on_line=None) -> CommandResult:
        if on_line:
            for line in self.result.stdout.splitlines():
                on_line(line)
        return self.result


def this_node() -> str:
    """The Slurm node name of this machine as slurmd knows it ($SLURMD_NODENAME in HealthCheckProgram,
    prolog and job steps), else the short host name."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]
