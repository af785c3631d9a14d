"""The proof script's nvidia-smi fallback sampler (used when pynvml is not importable on the target), read on
real recorded `nvidia-smi --query-gpu` outputs."""

import pytest

from envdoctor.proof.script import clock_reasons, sampler
from tests.corpus import corpus_body, corpus_headers


def rows_of(rel):
    fields = corpus_headers(rel)["command"].split("--query-gpu=")[1].split()[0].split(",")
    return sampler.parse_smi_csv(corpus_body(rel), fields)


@pytest.mark.parametrize("rel,util,power,temp,reasons", [
    ("nvidia-smi-query-csv/h100-590.48.01-query-gpu-all-fields.txt", 0, 69.85, 41, ["gpu_idle"]),
    ("nvidia-smi-query-csv/l40s-595.80-query-gpu-all-fields.txt", 100, 144.97, 63, []),
])
def test_rows_with_units_and_clock_event_reasons(rel, util, power, temp, reasons):
    (row,) = rows_of(rel)
    s = sampler.smi_sample(row, 1.0)
    assert (s["gpu"], s["util"], s["power_w"], s["temp_c"], s["reasons"]) == (0, util, power, temp, reasons)


def test_repeated_samples_header_skipped_and_old_field_names():
    rows = rows_of("nvidia-smi-query-csv/gpu-520.56.06-loop-temps-clocks.txt")
    assert len(rows) >= 2 and rows[0]["index"] == "0"
    s = sampler.smi_sample(rows[0], 1.0)
    assert (s["util"], s["power_w"], s["sm_mhz"], s["temp_c"]) == (26, 83.92, 1320, 56)
    assert s["reasons"] is None  # not queried in that capture: unknown, not "no throttling"


def test_reason_bits_decode():
    assert clock_reasons.reason_names(0x0) == []
    assert clock_reasons.reason_names(0x4 | 0x20) == ["sw_power_cap", "sw_thermal_slowdown"]
    assert clock_reasons.reason_names(None) is None


def test_worker_matched_to_nvml_gpu_by_uuid_then_bus_id():
    devices = [{"index": 0, "uuid": "GPU-aaaa-1111", "pci_bus_id": "00000000:18:00.0"},
               {"index": 1, "uuid": "GPU-bbbb-2222", "pci_bus_id": "00000000:2A:00.0"}]
    assert sampler.match_gpu({"uuid": "bbbb-2222"}, devices) == 1  # torch's uuid has no "GPU-" prefix
    assert sampler.match_gpu({"uuid": None, "pci_bus_id": "00000000:18:00.0"}, devices) == 0
    assert sampler.match_gpu({"uuid": "cccc"}, devices) is None
