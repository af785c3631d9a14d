"""MIG: a slice is judged against its share of the whole GPU's SMs, or reported unknown. The slice names and
SM counts come from real recorded outputs of MIG hosts (nvidia-smi -L and the MIG devices table of one H100
capture; nvidia-smi -q of an H200); the result documents around them are CONSTRUCTED (tests/proof/
constructed.py). Starting workers only for the ordinals CUDA has is tested in test_cuda_simulation.py."""

from __future__ import annotations

import re

import pytest

from envdoctor.proof.script.preflight import plan_ordinals
from envdoctor.proof.verdict import full_gpu_sms, judge, mig_profile
from tests.corpus import corpus_body
from tests.proof import constructed as C


def h100_mig_slices() -> list[tuple[str, int]]:
    """(name as torch gives it, SMs) per MIG device of the real H100 capture: the GPU's name and each device's
    profile from `nvidia-smi -L`, each device's SM count from the MIG devices table of `nvidia-smi`."""
    listing = corpus_body("nvidia-smi-misc/h100-mig-590.48.01-list-L.txt")
    gpu = re.search(r"^GPU 0: (.+?) \(UUID", listing, re.MULTILINE).group(1)
    profiles = {int(d): p for p, d in re.findall(r"^\s+MIG (\S+)\s+Device\s+(\d+):", listing, re.MULTILINE)}
    table = corpus_body("nvidia-smi-table/h100-mig-590.48.01-idle.txt")
    sms = {int(dev): int(sm) for dev, sm in
           re.findall(r"^\|\s+0\s+\d+\s+\d+\s+(\d+)\s+\|[^|]*\|\s+(\d+)\s+\d+\s+\|", table, re.MULTILINE)}
    assert sorted(profiles) == sorted(sms) == [0, 1, 2, 3]
    return [(f"{gpu} MIG {profiles[d]}", sms[d]) for d in sorted(profiles)]


def test_real_h100_mig_devices_read():
    assert h100_mig_slices() == [("NVIDIA H100 80GB HBM3 MIG 3g.40gb", 60), ("NVIDIA H100 80GB HBM3 MIG 2g.20gb", 32),
                                 ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", 16), ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", 16)]


@pytest.mark.parametrize("index", [0, 2])
def test_slice_judged_against_its_sm_share_of_the_published_figure(index):
    name, sms = h100_mig_slices()[index]
    expected = 2791 * sms / 132  # Lambda's H100 SXM figure x the slice's share of H100 SXM5's 132 SMs
    w = C.worker(name=name, img_s=round(expected * 0.9), precision="fp16", batch=64)
    w["sm_count"] = sms
    g = judge(C.result([w])).gpus[0]
    fast = next(c for c in g.checks if c.id == "proof_fast_enough")
    assert fast.status == "pass", fast
    assert g.baseline.scaled_by == "SM share" and g.baseline.mig_profile == mig_profile(name)
    assert g.baseline.scaled_img_s == pytest.approx(expected, abs=0.1)
    assert g.ratio == pytest.approx(0.9, abs=0.01)
    assert f"scaled to MIG {mig_profile(name)} by its SM share" in fast.summary
    assert "(fp16, batch 64)" in fast.summary
    assert any(f"{sms} of 132 SMs" in e for e in fast.evidence)


def test_slice_never_compared_with_the_whole_gpu():
    # The same img/s a 1g.10gb slice can give would be a failure against the whole H100's 2,791 img/s.
    name, sms = h100_mig_slices()[2]
    w = C.worker(name=name, img_s=300.0)
    w["sm_count"] = sms
    g = judge(C.result([w])).gpus[0]
    assert g.ratio == pytest.approx(300 / (2791 * 16 / 132), abs=1e-3)  # 0.89x of the slice's share, not 0.11x
    assert next(c for c in g.checks if c.id == "proof_fast_enough").status == "pass"


def test_slice_without_its_sm_count_is_unknown_and_says_so():
    name, _ = h100_mig_slices()[2]
    v = judge(C.result([C.worker(name=name, img_s=300.0)]))  # no sm_count in the worker's report
    fast = next(c for c in v.gpus[0].checks if c.id == "proof_fast_enough")
    assert fast.status == "unknown" and "not judged against the whole GPU" in fast.summary
    assert "unknown, not scaled" in fast.summary and v.gpus[0].ratio is None


def test_h200_mig_slice_sms_from_real_q_output():
    body = corpus_body("nvidia-smi-q/h200-mig-590.48.01.txt")
    counts = sorted({int(n) for n in re.findall(r"Multiprocessor count\s+:\s+(\d+)", body)})
    assert counts == [16, 32]
    name = re.search(r"Product Name\s+:\s+(.+)", body).group(1).strip()
    assert full_gpu_sms(name)["sms"] == 132 and mig_profile(name) is None  # the whole GPU is not a slice


def test_plan_never_starts_an_ordinal_cuda_lacks():
    # One process sees one MIG device while NVML (and nvidia-smi) show the 4 of the H100 capture above.
    start, lacking = plan_ordinals([0, 1, 2, 3], 1)
    assert start == [0] and [m["device_index"] for m in lacking] == [1, 2, 3]
    assert plan_ordinals([0, 1], 2) == ([0, 1], [])
