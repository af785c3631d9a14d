"""Error counters before and after the run. The "before" side is a real H100's `nvidia-smi -q` and a real kernel
log; the "after" sides are that GPU with changes made to it (constructed, labelled where made)."""

import pytest

from envdoctor.accept.counters import (
    CounterSnapshot,
    bus_key,
    compare_counters,
    snapshot,
)
from envdoctor.facts.gpu import XidEvent
from envdoctor.models import Status
from envdoctor.parsers.kernel_log import parse_kernel_log
from envdoctor.parsers.nvidia_smi import find_q
from tests.corpus import corpus_body

H100 = find_q(corpus_body("nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt"))[0].gpus[0]  # bus 00000000:00:09.0
XID_LOG = parse_kernel_log(corpus_body("dmesg-xid/xid-79-sxid-20034-nvswitch.txt")).xids  # Xid 79 on 0000:91:00


def test_a_real_idle_h100_compared_with_itself_passes():
    before = snapshot(H100, [])
    result = compare_counters(before, before)
    assert result.status is Status.PASS
    assert result.summary == ("GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): no new Xid, ECC error, retired page, "
                              "remapped row or slowdown during the run")


def test_only_this_gpus_xid_lines_count():
    other = H100.model_copy(update={"pci_bus_id": "00000000:91:00.0"})
    assert snapshot(other, XID_LOG).xid_lines == [XID_LOG[0].line]  # the Xid 79; not the NVSwitch SXids
    assert snapshot(H100, XID_LOG).xid_lines == []
    assert bus_key("00000000:91:00.0") == bus_key("0000:91:00") == "91:00"


def test_a_new_xid_during_the_run_fails_the_gpu_with_the_line():
    gpu = H100.model_copy(update={"pci_bus_id": "00000000:91:00.0"})
    result = compare_counters(snapshot(gpu, []), snapshot(gpu, XID_LOG))
    assert result.status is Status.FAIL
    assert result.summary.startswith("GPU 0 (NVIDIA H100 80GB HBM3, 00000000:91:00.0): 1 new fault during the run "
                                     "(new Xid: [6781741.548779] NVRM: Xid (PCI:0000:91:00): 79")
    assert result.evidence == [f"new Xid: {XID_LOG[0].line}"]


def test_an_xid_already_in_the_log_before_the_run_is_not_new():
    gpu = H100.model_copy(update={"pci_bus_id": "00000000:91:00.0"})
    assert compare_counters(snapshot(gpu, XID_LOG), snapshot(gpu, XID_LOG)).status is Status.PASS
    # constructed: the same message again during the run (a line can repeat): new once
    again = [*XID_LOG, XidEvent(xid=79, pci="0000:91:00", line=XID_LOG[0].line)]
    result = compare_counters(snapshot(gpu, XID_LOG), snapshot(gpu, again))
    assert result.status is Status.FAIL and result.evidence == [f"new Xid: {XID_LOG[0].line}"]


@pytest.mark.parametrize(("change", "words"), [
    ({"ecc_uncorrected_volatile": 3}, "uncorrectable ECC errors (volatile): 0 before the run, 3 after"),
    ({"ecc_uncorrected_aggregate": 1}, "uncorrectable ECC errors (aggregate): 0 before the run, 1 after"),
    ({"remapped_rows_pending": True}, "during the run a row remap became pending"),
    ({"remapped_rows_failure": True}, "during the run a row remapping failed"),
    ({"throttle_reasons_active": ["SW Power Cap", "HW Thermal Slowdown"]},
     "clock slowdown under load: HW Thermal Slowdown"),
])
def test_a_new_fault_fails_the_gpu_with_that_evidence(change, words):
    before = snapshot(H100, [])
    after = snapshot(H100.model_copy(update=change), [])  # constructed: the real GPU with one value changed
    result = compare_counters(before, after)
    assert result.status is Status.FAIL
    assert result.evidence == [words]
    assert words in result.summary


def test_retired_pages_on_a_gpu_that_retires_pages():
    # constructed: a pre-Ampere GPU has page retirement where later ones remap rows
    v100 = CounterSnapshot(label="GPU 1 (Tesla V100-SXM2-32GB)", ecc_uncorrected_volatile=0, retired_pages_dbe=0,
                           retired_pages_pending=False, throttle_reasons_active=[], xid_lines=[])
    after = v100.model_copy(update={"retired_pages_dbe": 2, "retired_pages_pending": True})
    result = compare_counters(v100, after)
    assert result.status is Status.FAIL
    assert result.evidence == ["pages retired for double-bit errors: 0 before the run, 2 after",
                               "during the run a page retirement became pending"]
    assert compare_counters(v100, v100).status is Status.PASS  # no remapped rows on it: not a gap


def test_a_power_cap_or_a_slowdown_already_there_before_the_run_is_not_new():
    before = snapshot(H100.model_copy(update={"throttle_reasons_active": ["HW Slowdown"]}), [])
    after = snapshot(H100.model_copy(update={"throttle_reasons_active": ["HW Slowdown", "SW Power Cap"]}), [])
    assert compare_counters(before, after).status is Status.PASS


def test_counters_not_read_on_both_sides_are_unknown_not_a_pass():
    before = snapshot(H100, None)  # the kernel log was not readable
    result = compare_counters(before, snapshot(H100, []))
    assert result.status is Status.UNKNOWN
    assert result.summary.endswith("nothing new in the counters read; Xid lines (kernel log) not read")
    blank = CounterSnapshot(label="GPU 0")
    result = compare_counters(blank, blank)
    assert result.status is Status.UNKNOWN
    assert result.summary == "GPU 0: no error counter could be read before and after the run"


def test_a_fault_is_reported_even_when_other_counters_were_not_read():
    before = CounterSnapshot(label="GPU 0", ecc_uncorrected_volatile=0)
    result = compare_counters(before, before.model_copy(update={"ecc_uncorrected_volatile": 1}))
    assert result.status is Status.FAIL
    assert result.evidence[-1] == ("not read before and after the run: retired pages / remapped rows, "
                                   "clock slowdown reasons, Xid lines (kernel log)")
