"""Kernel-log parser on the real dmesg captures of tests/data/corpus/dmesg-xid/ and constructed
layouts (journal short-iso, syslog, the wrapped API-mismatch message)."""

from envdoctor.parsers.kernel_log import parse_kernel_log
from tests.corpus import constructed_body, corpus_body


def test_xid_13_109_ctime():
    kl = parse_kernel_log(corpus_body("dmesg-xid/xid-13-109-ctime-peermem.txt"))
    assert [e.xid for e in kl.xids] == [13, 13, 13, 109]
    assert {e.pci for e in kl.xids} == {"0000:cb:00"}
    assert kl.xids[0].time == "Fri Aug 30 11:43:09 2024"
    assert kl.xids[-1].line.endswith("errorString CTX SWITCH TIMEOUT, Info 0x58005")
    assert kl.fallen_off_bus == [] and not any(e.sxid for e in kl.xids)


def test_xid_13_43_iso():
    kl = parse_kernel_log(corpus_body("dmesg-xid/xid-13-43-sm-exception-iso.txt"))
    assert [e.xid for e in kl.xids].count(13) == 16 and kl.xids[-1].xid == 43
    assert kl.xids[0].time == "2025-01-21T04:41:44,283302+00:00" and kl.xids[0].pci == "0000:38:00"
    assert "name=pt_main_thread" in kl.xids[-1].line


def test_xid_119_gsp():
    kl = parse_kernel_log(corpus_body("dmesg-xid/xid-119-gsp-rpc-timeout.txt"))
    assert [e.xid for e in kl.xids] == [119] * 5
    assert kl.xids[0].pci == "0000:9b:00" and kl.xids[3].time == "Sun Feb 23 16:27:12 2025"
    assert "Timeout after 6s of waiting for RPC response from GPU4 GSP!" in kl.xids[0].line


def test_xid_79_with_nvswitch_sxid():
    kl = parse_kernel_log(corpus_body("dmesg-xid/xid-79-sxid-20034-nvswitch.txt"))
    gpu = [e for e in kl.xids if not e.sxid]
    sw = [e for e in kl.xids if e.sxid]
    assert [(e.xid, e.pci, e.time) for e in gpu] == [(79, "0000:91:00", "6781741.548779")]
    assert len(sw) == 8 and {e.xid for e in sw} == {20034}
    assert {e.pci for e in sw} == {"0000:05:00.0", "0000:06:00.0", "0000:07:00.0"}
    assert kl.fallen_off_bus == [
        "[6781741.548779] NVRM: Xid (PCI:0000:91:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
        "[6781741.548783] NVRM: GPU 0000:91:00.0: GPU has fallen off the bus."]


def test_fallen_off_bus_old_wording():
    kl = parse_kernel_log(corpus_body("dmesg-xid/fallen-off-bus-old-driver-optimus.txt"))
    assert kl.xids == []
    assert kl.fallen_off_bus == ["[   49.261458] NVRM: GPU at 0000:01:00.0 has fallen off the bus.",
                                 "[   49.261472] NVRM: GPU at 0000:01:00.0 has fallen off the bus."]


def test_fallen_off_bus_multiline_without_xid():
    kl = parse_kernel_log(corpus_body("dmesg-xid/fallen-off-bus-without-xid-open-kernel-570.txt"))
    assert kl.xids == []
    # the PCI address is on the line before the words "fallen off the bus"
    assert kl.fallen_off_bus == ["NVRM: fallen off the bus and is not responding to commands. [GPU 0000:b3:00.0]"]
    assert kl.module_version == "570.158.01"
    assert "[ 1843.439662] NVRM: The NVIDIA probe routine failed for 1 device(s)." in kl.notable


def test_journal_and_syslog_layouts():
    kl = parse_kernel_log(constructed_body("gpu/journal-syslog-xid-94-48.txt"))
    assert [(e.xid, e.pci, e.time) for e in kl.xids] == [(94, "0000:3b:00", "2026-03-02T10:15:44+0000"),
                                                          (48, "0000:3b:00", "Mar  2 10:17:03")]


def test_api_mismatch_wrapped_message():
    kl = parse_kernel_log(constructed_body("gpu/dmesg-api-mismatch.txt"))
    assert kl.api_mismatch == ("535.54.03", "530.30.02")
    assert kl.notable[0].endswith("NVRM: API mismatch: the client has the version 535.54.03, but")


def test_no_nvidia_lines():
    kl = parse_kernel_log(corpus_body("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert (kl.xids, kl.fallen_off_bus, kl.nvrm_seen) == ([], [], False)
