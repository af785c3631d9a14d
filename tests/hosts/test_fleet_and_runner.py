"""The fleet summary (pure: HostReports -> table and drift) and the fan-out runner (forks, deadline,
progress). The host reports here are constructed inline; the real-host runs are in test_ssh_fleet.py."""

from __future__ import annotations

import io
import threading

import pytest

from envdoctor.errors import UserError
from envdoctor.hosts.fleet import fleet_summary
from envdoctor.hosts.runner import run_hosts
from envdoctor.hosts.targets import Target
from envdoctor.models import Drift, HostReport, HostStatus
from envdoctor.report.text import render_fleet


def host(name, status="pass", **headline):
    # constructed: headline values in the shape diagnose.headline() produces
    base = {"gpu": "NVIDIA A100-SXM4-80GB", "gpu_count": 8, "driver": "550.54.15", "cuda_driver": "12.4",
            "torch": "2.3.1+cu121", "torch_cuda": "12.1", "nccl": "2.20.5", "container_toolkit": "1.15.0"}
    return HostReport(host=name, status=HostStatus(status), headline={**base, **headline})


def test_drift_against_the_majority():
    hosts = [host("gpu01"), host("gpu02"), host("gpu03", driver="535.104.05", status="warn"),
             host("gpu04", torch=None), HostReport(host="gpu05", status=HostStatus.UNREACHABLE, error="refused")]
    f = fleet_summary(hosts)
    assert f.baseline.kind == "majority"
    assert {d.fact: d.hosts for d in f.drift} == {"driver": {"gpu03": "535.104.05"},
                                                          "torch": {"gpu04": None}}
    assert f.counts == {"pass": 3, "warn": 1, "unreachable": 1}
    text = render_fleet(f)
    assert "gpu05  unreachable" in text
    assert "driver: expected 550.54.15; gpu03=535.104.05" in text
    assert "torch: expected 2.3.1+cu121; gpu04=unknown" in text


def test_drift_against_a_golden_host():
    hosts = [host("gpu01"), host("gpu02", nccl="2.21.5"), host("gpu03", nccl="2.21.5")]
    f = fleet_summary(hosts, golden="gpu01")
    assert f.drift == [Drift(fact="nccl", expected="2.20.5", hosts={"gpu02": "2.21.5", "gpu03": "2.21.5"})]
    assert "against golden host gpu01" in render_fleet(f)


def test_hosts_per_status_and_per_drift_value_are_folded():
    hosts = [host(f"gpu{i:02d}") for i in range(1, 13)] + [host("gpu13", status="fail"), host("gpu14")]
    hosts += [host("login1", driver="535.104.05"), host("gpu15", driver="535.104.05"),
              host("a/p.txt", status="fail", driver="535.104.05"), host("b/p.txt", status="fail", driver=None)]
    text = render_fleet(fleet_summary(hosts))
    assert "  pass: gpu[01-12,14-15], login1\n" in text
    assert "  fail: gpu13, a/p.txt, b/p.txt\n" in text  # a paste's name is not folded: listed as it is
    assert "driver: expected 550.54.15; gpu15,login1,a/p.txt=535.104.05, b/p.txt=unknown" in text


def test_a_tie_has_no_majority():
    f = fleet_summary([host("a"), host("b", driver="535.104.05")])
    assert {d.fact: d.expected for d in f.drift} == {"driver": "(no majority)"}


def test_golden_must_be_evaluated():
    with pytest.raises(UserError, match="could not be evaluated"):
        fleet_summary([host("a"), HostReport(host="b", status=HostStatus.TIMEOUT, error="x")], golden="b")


def _targets(n):
    return [Target(name=f"h{i}", hostname=f"h{i}") for i in range(n)]


def test_forks_bound_the_parallelism_and_order_is_kept():
    active, peak, lock = [0], [0], threading.Lock()
    together = threading.Barrier(3, timeout=60)  # three hosts at a time, however fast each one is

    def work(t):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        together.wait()
        with lock:
            active[0] -= 1
        return HostReport(host=t.name, status=HostStatus.PASS)

    res = run_hosts(_targets(12), work, forks=3, progress=False)
    assert [r.host for r in res.reports] == [f"h{i}" for i in range(12)]
    assert peak[0] == 3


def test_a_host_past_the_deadline_is_a_timeout_and_a_crash_is_an_error():
    release, h0_returned = threading.Event(), threading.Event()

    def work(t):
        if t.name == "h0":
            release.wait(120)  # hangs in a way no transport timeout caught
            h0_returned.set()
        if t.name == "h1":
            raise RuntimeError("boom")
        return HostReport(host=t.name, status=HostStatus.PASS)

    res = run_hosts(_targets(3), work, forks=3, deadline_s=1, progress=False)
    assert not h0_returned.is_set()  # the run did not wait for the hung host
    release.set()
    assert [r.status for r in res.reports] == [HostStatus.TIMEOUT, HostStatus.ERROR, HostStatus.PASS]
    assert "boom" in res.reports[1].error


def test_progress_shows_done_total_and_the_slowest():
    shown = threading.Event()

    class Tty(io.StringIO):
        def isatty(self):
            return True

        def write(self, text):
            if "2/3 hosts done; 1 running, slowest: h2" in text:
                shown.set()
            return super().write(text)

    def work(t):
        if t.name == "h2":
            shown.wait(60)  # the slow host ends once the line has shown it running
        return HostReport(host=t.name, status=HostStatus.PASS)

    out = Tty()
    run_hosts(_targets(3), work, forks=3, stream=out)
    text = out.getvalue()
    assert "2/3 hosts done; 1 running, slowest: h2" in text
    assert text.endswith("\r")  # the line is cleared before the report is printed


@pytest.mark.parametrize("hosts, line", [
    ([HostReport(host="a", status=HostStatus.UNREACHABLE, error="refused"),
      HostReport(host="b", status=HostStatus.TIMEOUT, error="slow")],
     "Drift: nothing could be compared (no host was evaluated)."),
    ([host("a"), HostReport(host="b", status=HostStatus.UNREACHABLE, error="refused")],
     "Drift: nothing could be compared (1 host evaluated; drift needs two or more)."),
    ([host("a"), host("b")], "Drift: none (every evaluated host agrees with the majority)."),
])
def test_drift_none_only_when_hosts_were_compared(hosts, line):
    f = fleet_summary(hosts)
    assert render_fleet(f).splitlines()[-1] == line
    assert f.compared == sum(h.status.evaluated for h in hosts)


def test_this_machine_is_headed_by_its_hostname_and_says_it_is_local():
    import socket

    from envdoctor.hosts.targets import LOCAL
    from envdoctor.report.text import render_host

    assert LOCAL.name == socket.gethostname() and LOCAL.local
    text = render_host(HostReport(host=LOCAL.name, local=True, status=HostStatus.PASS), color=False)
    assert text.splitlines()[0] == f"{socket.gethostname()} (this machine, local): pass"
    assert render_host(HostReport(host="localhost", status=HostStatus.PASS), color=False).startswith("localhost: pass")
