"""Fleet benchmark: N loopback sshd test hosts; `envdoctor check --json --no-proof` against
`ansible all -m setup` and the floor (one plain OpenSSH connection per host running `python3 -c pass`, all
in parallel). Prints, per N, the median of --repeat runs: wall and client CPU seconds of each, envdoctor's
ratio to the floor and Ansible's ratio to envdoctor, and envdoctor's peak memory (RSS) and thread count.

    python3 benchmarks/fleet.py                 # N = 32 and 128, 3 runs each
    python3 benchmarks/fleet.py --sizes 8 --repeat 1 --ansible /path/to/ansible

Ansible is a peer to compare with, not a dependency of envdoctor: install it apart, e.g.
`python3 -m venv /tmp/ansible-venv && /tmp/ansible-venv/bin/pip install ansible-core` (found there or on PATH).

Every column uses the targets' system interpreter (--python, default /usr/bin/python3, which has no torch: the
figures measure envdoctor, not the targets' torch import) and the same forks (N, so all hosts run at once).
Ansible runs with its defaults (SSH ControlPersist on, pipelining off) unless --ansible-pipelining. Needs root
and openssh-server, like the test hosts. On loopback the targets share this machine's cores, so the floor is
mostly the targets' own cost; on a busy machine run it several times and read the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.testhost import TestHost, fleet_files, keygen  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    c0, t0 = children_cpu(), time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    return time.monotonic() - t0, children_cpu() - c0, p


def floor(hosts, cfg, kh, python) -> tuple[float, float]:
    c0, t0 = children_cpu(), time.monotonic()
    procs = [subprocess.Popen(["ssh", "-F", str(cfg), "-o", f"UserKnownHostsFile={kh}", "-o", "BatchMode=yes",
                               h.alias, python, "-c", "pass"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for h in hosts]
    bad = [p.stderr.read().decode() for p in procs if p.wait() != 0]
    if bad:
        raise SystemExit(f"floor: {len(bad)} ssh runs failed: {bad[0][:300]}")
    return time.monotonic() - t0, children_cpu() - c0


def envdoctor(hosts, cfg, kh, python) -> tuple[float, float, float, int]:
    """Wall and CPU seconds, peak RSS (MB) and peak thread count of the controller."""
    argv = [sys.executable, "-m", "envdoctor", "check", "--json", "--no-proof", "-F", str(cfg), "--known-hosts",
            str(kh), "--python", python, "-f", str(len(hosts))] + [h.alias for h in hosts]
    c0, t0 = children_cpu(), time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        threads = [0]
        sampler = threading.Thread(target=_count_threads, args=(p.pid, threads), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(p.pid, 0)
        secs, cpu = time.monotonic() - t0, children_cpu() - c0
        p.returncode = os.waitstatus_to_exitcode(status)
        sampler.join(1)
        out.seek(0)
        doc = json.loads(out.read())
    bad = [h for h in doc["hosts"] if h["status"] not in ("pass", "warn", "fail", "unknown")]
    if len(doc["hosts"]) != len(hosts) or bad:
        raise SystemExit(f"envdoctor: {len(bad)} hosts not evaluated: {bad[:1]}")
    return secs, cpu, usage.ru_maxrss / 1024, threads[0]


def _count_threads(pid: int, peak: list[int]) -> None:
    while True:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        if "State:\tZ" in text:
            return
        n = next((int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("Threads:")), 0)
        peak[0] = max(peak[0], n)
        time.sleep(0.02)


def ansible(ansible_bin, hosts, key, kh, python, work: Path, pipelining: bool) -> tuple[float, float] | None:
    inv = work / "ansible.ini"
    inv.write_text("[all:vars]\nansible_host=127.0.0.1\nansible_user=root\n"
                   f"ansible_ssh_private_key_file={key}\nansible_python_interpreter={python}\n[fleet]\n"
                   + "".join(f"{h.alias} ansible_port={h.port}\n" for h in hosts))
    cp = Path(tempfile.mkdtemp(prefix="cp", dir="/tmp"))  # a fresh ControlPath dir: no warm masters
    env = {**os.environ, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp), "ANSIBLE_LOCAL_TEMP": str(work / "atmp"),
           "ANSIBLE_HOME": str(work / "ahome"), "ANSIBLE_PIPELINING": "True" if pipelining else "False",
           "ANSIBLE_SSH_ARGS": f"-C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={kh} "
                               "-o StrictHostKeyChecking=yes", "ANSIBLE_NOCOLOR": "1"}
    secs, cpu, p = timed([ansible_bin, "all", "-i", str(inv), "-m", "setup", "-f", str(len(hosts))], env=env)
    ok = p.stdout.count("SUCCESS")
    if p.returncode != 0 or ok != len(hosts):
        print(f"  ansible: {ok}/{len(hosts)} hosts succeeded (rc {p.returncode}): {p.stdout[-400:]}", file=sys.stderr)
    for sock in cp.iterdir():  # stop the ControlPersist masters it left
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True)
    shutil.rmtree(cp, ignore_errors=True)
    return secs, cpu


def find_ansible(given: str | None) -> str | None:
    for cand in [given, shutil.which("ansible"), "/tmp/ansible-venv/bin/ansible"]:
        if cand and Path(cand).exists():
            return cand
    return None


def median(runs: list[tuple]) -> tuple:
    return tuple(statistics.median(r[i] for r in runs) for i in range(len(runs[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the figures are medians")
    ap.add_argument("--python", default="/usr/bin/python3", help="the targets' interpreter, for all three columns")
    ap.add_argument("--ansible", help="ansible executable (default: on PATH or /tmp/ansible-venv/bin/ansible)")
    ap.add_argument("--ansible-pipelining", action="store_true")
    ap.add_argument("--no-ansible", action="store_true", help="skip the Ansible column")
    ap.add_argument("--ansible-sizes", type=int, nargs="*", help="the sizes Ansible runs at (default: all)")
    args = ap.parse_args()
    ansible_bin = None if args.no_ansible else find_ansible(args.ansible)
    if not ansible_bin:
        print("ansible not found or not wanted: its column is skipped (see --ansible)", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="envdoctor-fleet-bench-"))
    key = keygen(work / "id_ed25519")
    rows = []
    try:
        for n in args.sizes:
            hosts = [TestHost(work / f"n{n}" / f"h{i}", alias=f"h{i}", client_key=key) for i in range(n)]
            for h in hosts:
                h.start()
            fls, eds, ans = [], [], []
            try:
                cfg, kh = fleet_files(hosts, work / f"n{n}" / "client")
                for r in range(args.repeat):
                    fls.append(floor(hosts, cfg, kh, args.python))
                    eds.append(envdoctor(hosts, cfg, kh, args.python))
                    with_ansible = ansible_bin and (args.ansible_sizes is None or n in args.ansible_sizes)
                    an = ansible(ansible_bin, hosts, key, kh, args.python, work / f"n{n}", args.ansible_pipelining) \
                        if with_ansible else None
                    if an:
                        ans.append(an)
                    print(f"N={n} run {r + 1}: floor {fls[-1][0]:.2f} s, envdoctor {eds[-1][0]:.2f} s "
                          f"({eds[-1][2]:.0f} MB, {eds[-1][3]} threads)"
                          + (f", ansible {an[0]:.2f} s" if an else ""), file=sys.stderr)
            finally:
                for h in hosts:
                    h.stop()
            rows.append((n, median(fls), median(eds), median(ans) if ans else None))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\nfleet benchmark ({os.cpu_count()} cores, load average {load:.1f} at the end; targets' python "
          f"{args.python}; forks = N; medians of {args.repeat} runs; wall seconds, client CPU seconds in brackets)")
    print(f"{'N':>4}  {'OpenSSH floor':>16}  {'envdoctor':>16}  {'ansible setup':>16}  {'env/floor':>9}  "
          f"{'ansible/env':>11}  {'peak RSS':>8}  {'threads':>7}")
    for n, fl, ed, an in rows:
        a = f"{an[0]:7.2f} [{an[1]:5.1f}]" if an else "skipped".rjust(16)
        ratio = f"{an[0] / ed[0]:10.1f}x" if an else "-".rjust(11)
        print(f"{n:>4}  {fl[0]:7.2f} [{fl[1]:5.1f}]  {ed[0]:7.2f} [{ed[1]:5.1f}]  {a:>16}  {ed[0] / fl[0]:8.2f}x  "
              f"{ratio}  {ed[2]:5.0f} MB  {ed[3]:7.0f}")
    if len(rows) > 1:
        (n0, _, e0, _), (n1, _, e1, _) = rows[0], rows[-1]
        print(f"envdoctor growth: x{e1[0] / e0[0]:.2f} time for x{n1 / n0:.0f} hosts "
              f"({e0[0] / n0 * 1000:.0f} ms/host at N={n0}, {e1[0] / n1 * 1000:.0f} ms/host at N={n1})")
    print("targets: 32 hosts <= 1.5x the floor and >= 4x faster than ansible; "
          "128 hosts <= 1.5x the floor with peak controller memory <= 400 MB")


if __name__ == "__main__":
    main()
