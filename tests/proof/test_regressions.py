"""Regression tests for the smaller defects of issue 8, one each."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types

import pytest

from envdoctor.models import Proof, Status
from envdoctor.probe.script import child_scripts
from envdoctor.proof.script import sampler
from envdoctor.proof.verdict import judge
from envdoctor.report.text import render_proof
from tests.proof import constructed as C
from tests.proof.test_sampler_parsing import rows_of


def test_partial_nvml_failure_does_not_list_devices_twice(monkeypatch):
    # SIMULATED pynvml: two GPUs, the second one's PCI query fails, so the sampler falls back to nvidia-smi,
    # whose answer is a real recorded --query-gpu row.
    class FakeNvml(types.ModuleType):
        def nvmlInit(self):
            pass

        def nvmlDeviceGetCount(self):
            return 2

        def nvmlDeviceGetHandleByIndex(self, i):
            return i

        def nvmlDeviceGetUUID(self, h):
            return f"GPU-{h}"

        def nvmlDeviceGetName(self, h):
            return "NVIDIA H100 80GB HBM3"

        def nvmlDeviceGetPciInfo(self, h):
            if h == 1:
                raise RuntimeError("NVML_ERROR_UNKNOWN")
            return types.SimpleNamespace(busId=b"00000000:00:09.0")

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml("pynvml"))
    monkeypatch.setattr(sampler.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    (row,) = rows_of("nvidia-smi-query-csv/h100-590.48.01-query-gpu-all-fields.txt")
    monkeypatch.setattr(sampler.Sampler, "_smi", lambda self, fields: [{f: row[f] for f in fields if f in row}])
    s = sampler.Sampler(0.25)
    s.setup()
    assert s.kind == "nvidia-smi"
    assert [d["index"] for d in s.devices] == [0]  # nvidia-smi's one GPU, not NVML's partial list plus it
    assert "NVML_ERROR_UNKNOWN" not in (s.error or "")  # the fallback worked: no error left


def test_failed_proof_headline_names_the_failure_not_a_warning():
    # CONSTRUCTED: utilisation dips (a warning) and thermal throttling (a failure) on one GPU.
    rows = C.samples(utils=[99, 99, 20, 99, 10, 99, 99, 15] * 5, reasons=["hw_thermal_slowdown"])
    v = judge(C.result([C.worker()], gpu_samples={0: rows}))
    assert v.status == "fail"
    assert v.summary.split("; ")[-1].startswith("the GPU slowed itself down"), v.summary


def test_cpu_run_with_allow_cpu_whose_loss_does_not_fall_headlines_the_failure():
    w = C.worker(name="cpu", precision="fp32", losses=[2.30 + 0.01 * (i % 3) for i in range(30)])
    w.update(param_device="cpu", device_index=0)
    v = judge(C.result([w], device="cpu"), allow_cpu=True)
    assert v.status == "fail" and v.summary.startswith("the loss did not fall"), v.summary
    assert "no GPU was used" in v.summary  # the warning still said, after the failure


def test_cpu_report_never_says_gpu_0_or_empty_bullets_or_matches_the_cpu():
    failed = {"rank": 0, "device_index": 0, "error": "RuntimeError: boom", "traceback": ""}  # CONSTRUCTED
    ok = C.worker(rank=1, name="cpu", precision="fp32")
    ok.update(param_device="cpu", device_index=1)
    doc = C.result([failed, ok], device="cpu", sampler=None)
    text = render_proof("localhost", Proof(status=Status.FAIL, summary="x", verdict=judge(doc, allow_cpu=True)),
                        verbose=True)
    assert "GPU 0" not in text and "GPU 1" not in text and "CPU process 0" in text
    assert "• \n" not in text + "\n" and not any(ln.strip() == "•" for ln in text.splitlines())
    assert "matches the CPU" not in text and "fp32 matmul agrees with float64" in text


def test_skipped_proof_names_no_device():
    from envdoctor.diagnosis.bundle import Bundle
    from envdoctor.diagnosis.host_facts import facts_from_bundle
    from envdoctor.hosts.targets import LOCAL
    from envdoctor.proof.stage import run_proof
    from tests.corpus import corpus_body

    facts = facts_from_bundle(Bundle(host="x", pastes=[corpus_body("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt")]))
    proof = run_proof(LOCAL, facts)
    assert proof.status == "skip" and proof.device is None and proof.requested_device == "cuda"


def torch_probe(env=None) -> dict:
    r = subprocess.run([sys.executable, "-c", child_scripts.TORCH_SCRIPT], capture_output=True, text=True,
                       timeout=300, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc to build the simulated driver library")
def test_probe_reads_the_driver_cuda_version_through_the_driver_api(tmp_path):
    import os

    assert "_cuda_getDriverVersion()" not in child_scripts.TORCH_SCRIPT  # torch 2.14 has no such function
    here = torch_probe()
    assert "AttributeError" not in (here.get("driver_cuda_error") or "")  # no driver here: said so, not a typo
    # SIMULATED driver: a libcuda.so.1 built here whose cuDriverGetVersion reports 13010 (CUDA 13.1).
    src = tmp_path / "fake_cuda.c"
    src.write_text("int cuDriverGetVersion(int *v) { *v = 13010; return 0; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libcuda.so.1"), str(src)], check=True)
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    assert torch_probe(env)["driver_cuda"] == 13010
