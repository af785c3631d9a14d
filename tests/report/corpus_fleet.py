"""A fleet report made from real corpus pastes (each paste diagnosed by `check --from`'s own code as one
host), for the renderers' tests and the example in docs/. The host names are ours. The proof-runs
attached to the GPU hosts are CONSTRUCTED (tests/proof/constructed.py: this machine has no GPU) and
judged by the real verdict code; the report says which hosts carry one."""

from __future__ import annotations

import copy

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.diagnosis.conclusion import status_with_proof
from envdoctor.diagnosis.diagnose import report_from_bundle
from envdoctor.hosts.fleet import fleet_summary
from envdoctor.models import HostReport, Proof, Report
from envdoctor.proof.verdict import judge
from tests.corpus import corpus_path
from tests.proof import constructed

# (host name, corpus files pasted together for it)
PASTES = [
    ("gpu01", ["collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt"]),
    ("gpu02", ["collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt"]),
    ("gpu03", ["collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt",
               "container-config/df-h-dev-shm-container-64M-vs-host-bind.txt"]),
    ("gpu04", ["errors/torch-driver-too-old-11040-with-proc-version.txt"]),
    ("gpu05", ["errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"]),
    ("gpu06", ["collect-env/rtx4090-2.5.1-cu121-driver-535.txt",
               "container-config/ulimit-a-hpc-memlock-64-ucx.txt"]),
    ("gpu07", ["dmesg-xid/xid-79-sxid-20034-nvswitch.txt"]),
    ("cpu01", ["collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt"]),
    ("gpu09", ["errors/torch-driver-too-old-11040-with-proc-version.txt"]),  # same as gpu04: one row
    ("gpu10", ["errors/torch-driver-too-old-11040-with-proc-version.txt"]),
]


def _proof(host: str, name: str, rates: list[float], utils: list[list[int]] | None = None) -> Proof:
    workers = [constructed.worker(rank=i, name=name, img_s=r) for i, r in enumerate(rates)]
    series = utils or [[99] * 40 for _ in rates]
    samples = {i: constructed.samples(i, n=len(u), utils=u) for i, u in enumerate(series)}
    result = constructed.result(workers, gpu_samples=samples)
    v = judge(result)
    return Proof(host=host, device="cuda", time_budget_s=60.0, status=v.status, summary=v.summary, verdict=v,
                 result=result, secs=44.0, constructed=True)


def corpus_hosts(tmp_path) -> list[HostReport]:
    checks = load_catalog([])
    hosts = []
    for name, files in PASTES:
        paste = tmp_path / f"{name}.txt"
        paste.write_text("\n\n".join(corpus_path(f).read_text() for f in files))
        report, _ = report_from_bundle(Bundle.load(paste), checks)
        report.host = name
        report.gather_secs = 0.0
        hosts.append(report)
    by = {h.host: h for h in hosts}
    by["gpu01"].proof = _proof("gpu01", "NVIDIA A100 80GB PCIe", [1410.0, 1395.0])
    # gpu02's second GPU is slow and its utilisation dips every few samples (a starved or throttled GPU)
    by["gpu02"].proof = _proof("gpu02", "NVIDIA A100 80GB PCIe", [1402.0, 820.0],
                               utils=[[97 + i % 3 for i in range(40)], [95 if i % 5 else 35 for i in range(40)]])
    for h in (by["gpu01"], by["gpu02"]):
        h.status = status_with_proof(h.status, h.proof.status)
    hosts.append(HostReport(host="gpu08", status="unreachable", error="no route to host (constructed: no SSH here)"))
    return hosts


def corpus_report(tmp_path, copies: int = 1) -> Report:
    """The corpus fleet; with copies > 1, each host repeated under numbered names (a large fleet)."""
    base = corpus_hosts(tmp_path)
    hosts = []
    for i in range(copies):
        for h in base:
            c = copy.deepcopy(h)
            if copies > 1:
                c.host = f"{h.host}-{i:03d}"
            hosts.append(c)
    return Report(envdoctor="test", hosts=hosts, fleet=fleet_summary(hosts))
