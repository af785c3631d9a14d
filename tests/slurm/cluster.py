"""A real Slurm cluster of several nodes on this one machine, for the tests: Debian's munge, slurmctld
and slurmd (one slurmd per node with `-N NAME`), all state, sockets, logs and ports in one temporary
directory, no systemd. Everything started is stopped by its PID and the directory is removed.

    with SlurmCluster(tmp_path, nodes=3) as c:
        subprocess.run(["sinfo"], env=c.env)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol")


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if not shutil.which(b) and not Path("/usr/sbin", b).exists()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    def __init__(self, root: Path, nodes: int = 3, partition: str = "gpu", extra_conf: list[str] | None = None):
        self.root = Path(root)
        self.nodes = [f"n{i}" for i in range(1, nodes + 1)]
        self.partition = partition
        self.conf = self.root / "slurm.conf"
        self.extra_conf = list(extra_conf or [])
        self.pids: list[Path] = []
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        # Jobs started by the tests must not see an allocation of an outer Slurm, if any.
        for k in list(self.env):
            if k.startswith("SLURM_") and k != "SLURM_CONF":
                del self.env[k]

    # ------------------------------------------------------------- start

    def __enter__(self) -> "SlurmCluster":
        try:
            self._start_munge()
            self._write_conf()
            self._start(["slurmctld", "-f", str(self.conf), "-D"], "slurmctld.pid", "slurmctld.out")
            self._wait(lambda: self._ok(["scontrol", "ping"]) and "UP" in self.run(["scontrol", "ping"]).stdout,
                       "slurmctld answers")
            for n in self.nodes:
                self._start(["slurmd", "-f", str(self.conf), "-N", n, "-D"], f"slurmd.{n}.pid", f"slurmd.{n}.out")
            self._wait(self._all_up, "every node up")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start_munge(self) -> None:
        m = self.root / "munge"
        m.mkdir(mode=0o700, parents=True)
        key = m / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.munge_socket = m / "munge.socket"
        self._start([_binary("munged"), f"--key-file={key}", f"--socket={self.munge_socket}",
                     f"--pid-file={m / 'munged.pid'}", f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'seed'}",
                     "-f", "-F"], None, "munged.out")
        self._wait(self.munge_socket.exists, "munged socket")

    def _write_conf(self) -> None:
        host = socket.gethostname().split(".")[0]
        r = self.root
        (r / "state").mkdir()
        (r / "spool").mkdir()
        lines = [
            "ClusterName=envdoctortest", f"SlurmctldHost={host}", "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}", "CredType=cred/munge", "SlurmUser=root", "SlurmdUser=root",
            f"StateSaveLocation={r / 'state'}", f"SlurmctldPort={_free_port()}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}", f"SlurmctldLogFile={r / 'slurmctld.log'}",
            f"SlurmdPidFile={r / 'spool' / 'slurmd.%n.pid'}", f"SlurmdSpoolDir={r / 'spool' / '%n'}",
            f"SlurmdLogFile={r / 'spool' / 'slurmd.%n.log'}", "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU",
            "AccountingStorageType=accounting_storage/none", "JobCompType=jobcomp/none",
            "JobAcctGatherType=jobacct_gather/none", "ReturnToService=2", "MpiDefault=none",
            "SchedulerType=sched/builtin", "SlurmctldDebug=info", "SlurmdDebug=info", "InactiveLimit=0",
            "KillWait=5", "MinJobAge=10", "SlurmctldTimeout=30", "SlurmdTimeout=60",
        ] + self.extra_conf
        for n in self.nodes:
            lines.append(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={_free_port()} CPUs=1 State=UNKNOWN")
        lines.append(f"PartitionName={self.partition} Nodes={','.join(self.nodes)} Default=YES MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")

    def _start(self, argv: list[str], pid_name: str | None, out_name: str) -> None:
        argv = [_binary(argv[0])] + argv[1:]
        with open(self.root / out_name, "wb") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=self.env, start_new_session=True)
        pid_file = self.root / f"{out_name}.pid"
        pid_file.write_text(str(p.pid))
        self.pids.append(pid_file)
        time.sleep(0.05)
        if p.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited at once: {(self.root / out_name).read_text()[-500:]}")

    def _wait(self, cond, what: str, limit: float = 60.0) -> None:
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.3)
        raise RuntimeError(f"test Slurm: gave up waiting for {what}; logs in {self.root}: {self.logs()[-2000:]}")

    def _all_up(self) -> bool:
        """Every node registered (idle, or drained by a health check that ran at slurmd's start)."""
        r = self.run(["sinfo", "-h", "-N", "-o", "%N %T"])
        states = dict(line.split() for line in r.stdout.splitlines() if line.strip())
        return len(states) == len(self.nodes) and all(s in ("idle", "drained") for s in states.values())

    def _ok(self, argv) -> bool:
        return self.run(argv).returncode == 0

    # ------------------------------------------------------------- use

    def run(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)

    def reason(self, node: str) -> tuple[str, str]:
        """(state, reason) as sinfo shows them."""
        out = self.run(["sinfo", "-h", "-N", "-n", node, "-o", "%T|%E"]).stdout.strip().splitlines()[0]
        state, _, reason = out.partition("|")
        return state, reason

    def logs(self) -> str:
        parts = []
        for p in sorted(self.root.rglob("*.log")) + sorted(self.root.glob("*.out")):
            try:
                parts.append(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}")
            except OSError:
                pass
        return "\n".join(parts)

    # ------------------------------------------------------------- stop

    def stop(self) -> None:
        # slurmd first (they talk to the controller), munged last (everyone authenticates through it).
        for pid_file in reversed(self.pids):
            try:
                pid = int(pid_file.read_text())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        self.pids.clear()
