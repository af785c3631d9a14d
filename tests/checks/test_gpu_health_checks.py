"""persistence_mode, fabric_manager, mig_config, xid_errors, ecc_errors, throttling, pcie_link:
from real outputs where the corpus has one, and constructed inputs (labelled) for the rest."""

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import GpuFacts, HostFacts
from envdoctor.facts.gpu import GpuInfo
from envdoctor.knowledge import load
from envdoctor.models import Status
from tests.checks.support import paste, run, sec, text_paste
from tests.corpus import constructed_body, corpus_body

H100_Q = "nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt"


def h100_q_with(*pairs):
    """Constructed: the real H100 `nvidia-smi -q` with some values changed (pairs of old/new text)."""
    body = corpus_body(H100_Q)
    for old, new in pairs:
        assert old in body, old
        body = body.replace(old, new, 1)
    return body


def one_gpu(**kw):
    """Constructed facts: one GPU with the given fields."""
    return HostFacts(gpu=GpuFacts(gpus=[GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", pci_bus_id="00000000:18:00.0",
                                                 **kw)]))


# --- persistence_mode ---------------------------------------------------------------------------

def test_persistence_off_on_datacenter_gpu():
    r = run("persistence_mode", paste("nvidia-smi-q-xml/a10g-515.105.01.txt"))
    assert r.status == Status.WARN and r.evidence == ["GPU 0 (NVIDIA A10G, 00000000:00:1E.0): Persistence-M Off"]
    assert r.fix.playbook == "persistence-mode.yml" and "sudo systemctl enable --now nvidia-persistenced" in r.fix.commands


@pytest.mark.parametrize("rel,summary", [(H100_Q, "persistence mode is on"),
                                         ("nvidia-smi-q/rtx2080super-610.57.04.txt",
                                          "desktop/workstation GPU(s): persistence mode not needed")])
def test_persistence_pass(rel, summary):
    r = run("persistence_mode", paste(rel))
    assert (r.status, r.summary) == (Status.PASS, summary)


def test_persistence_unknown_without_gpus():
    assert run("persistence_mode", paste("proc-driver-version/proprietary-384.98-ubuntu.txt")).status == Status.UNKNOWN


# --- fabric_manager -----------------------------------------------------------------------------

def hgx(units_file):
    # constructed probe sections around the real H100 -q
    return facts_from_bundle(Bundle(sections={
        "pci_devices": sec(constructed_body("gpu/pci-devices-hgx-8gpu-4nvswitch.txt")),
        "systemd_units": sec(constructed_body(units_file)),
        "nvidia_smi": sec(corpus_body(H100_Q))}))


def test_fabric_manager_failed_on_nvswitch_system():
    r = run("fabric_manager", hgx("gpu/systemctl-show-fabricmanager-failed.txt"))
    assert r.status == Status.FAIL and r.summary == "NVSwitch system without a running fabric manager"
    assert r.evidence[:2] == ["4 NVSwitch device(s) found", "nvidia-fabricmanager.service: failed"]
    assert r.fix.playbook == "fabricmanager.yml"
    assert r.fix.commands[0].startswith("sudo apt-get install nvidia-fabricmanager-590")


def test_fabric_manager_active():
    r = run("fabric_manager", hgx("gpu/systemctl-show-fabricmanager-active.txt"))
    assert r.status == Status.PASS


def test_fabric_manager_cuda_802():
    facts = paste(constructed=["gpu/cuda-802-torch.txt"])
    r = run("fabric_manager", facts)
    assert r.status == Status.FAIL and "802" in r.summary
    assert "RuntimeError: CUDA error: system not yet initialized" in r.evidence


def test_fabric_manager_gpu_fabric_state():
    # real H100 -q: fabric registration completed
    r = run("fabric_manager", paste(H100_Q))
    assert r.status == Status.PASS and r.summary == "GPU fabric registration completed"
    # constructed: the same -q with the fabric still "In Progress" (fabric manager not done/not running)
    r = run("fabric_manager", text_paste(h100_q_with(("State                                          : Completed",
                                                               "State                                          : In Progress"))))
    assert r.status == Status.FAIL
    assert "GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): fabric state In Progress" in r.evidence


def test_fabric_manager_skip_and_unknown():
    # constructed: a probe PCI section listing one RTX 3090 (10de:2204) and no NVSwitch
    no_switch = facts_from_bundle(Bundle(sections={"pci_devices": sec("0000:01:00.0 10de 2204 030000 driver=nvidia\n")}))
    assert run("fabric_manager", no_switch).status == Status.SKIP
    assert run("fabric_manager", paste("nvidia-smi-table/titan-xp-450.57.txt")).status == Status.UNKNOWN


# --- mig_config ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,n", [("nvidia-smi-table/h100-mig-590.48.01-idle.txt", 4),
                                   ("nvidia-smi-q/h200-mig-590.48.01.txt", 5),
                                   ("nvidia-smi-q-xml/a100-sxm4-80gb-mig-535.54.03.txt", 4),
                                   ("nvidia-smi-misc/h100-mig-590.48.01-list-L.txt", 4)])
def test_mig_with_instances(rel, n):
    r = run("mig_config", paste(rel))
    assert r.status == Status.PASS and r.evidence[0].endswith(f": {n} MIG device(s)")


def test_mig_not_enabled():
    r = run("mig_config", paste("nvidia-smi-table/h200-590.48.01-idle.txt"))
    assert (r.status, r.summary) == (Status.PASS, "MIG is not enabled")


@pytest.mark.parametrize("rel", ["nvidia-smi-table/l40s-595.80-idle.txt", "nvidia-smi-q/l40s-595.80.txt",
                                 "nvidia-smi-q-xml/rtx3060-570.124.04.txt",
                                 "nvidia-smi-table/titan-xp-450.57.txt"])
def test_mig_not_supported_is_not_enabled(rel):
    # "MIG M.: N/A" / "Current: N/A": the GPU has no MIG, which is a real answer
    r = run("mig_config", paste(rel))
    assert (r.status, r.summary) == (Status.PASS, "MIG is not enabled")
    assert r.evidence and r.evidence[0].endswith("MIG mode Disabled or N/A")


@pytest.mark.parametrize("rel", ["nvidia-smi-misc/a100-nvlink-status.txt", "nvidia-smi-misc/quadro-rtx4000-x2-list-L.txt",
                                 "nvidia-smi-table/grid-k520-346.46-no-cuda-version.txt"])
def test_mig_unreported_is_unknown(rel):
    # regression: these listings carry no MIG field, and used to pass as "MIG is not enabled"
    r = run("mig_config", paste(rel))
    assert r.status == Status.UNKNOWN and "not collected: nvidia-smi -q (MIG Mode)" in r.evidence


def test_mig_enabled_without_instances():
    # constructed: the real H100 MIG table with its MIG devices box removed
    body = corpus_body("nvidia-smi-table/h100-mig-590.48.01-idle.txt")
    start, end = body.index("| MIG devices:"), body.index("| Processes:")
    r = run("mig_config", text_paste(body[:start] + body[end:]))
    assert r.status == Status.FAIL and r.evidence == [
        "GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): MIG mode Enabled, 0 MIG devices"]


def test_mig_pending_change():
    r = run("mig_config", text_paste(h100_q_with(
        ("Pending                                        : Disabled", "Pending                                        : Enabled"))))
    assert r.status == Status.WARN and "MIG current Disabled, pending Enabled" in r.evidence[0]


# --- xid_errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,status,codes", [
    ("dmesg-xid/xid-13-109-ctime-peermem.txt", Status.WARN, ["Xid 13", "Xid 109"]),
    ("dmesg-xid/xid-13-43-sm-exception-iso.txt", Status.WARN, ["Xid 13", "Xid 43"]),
    ("dmesg-xid/xid-119-gsp-rpc-timeout.txt", Status.FAIL, ["Xid 119"]),
    ("dmesg-xid/xid-79-sxid-20034-nvswitch.txt", Status.FAIL, ["Xid 79", "SXid 20034"]),
])
def test_xid_real_logs(rel, status, codes):
    r = run("xid_errors", paste(rel))
    assert r.status == status
    for c in codes:
        assert c in r.summary
    meaning = load("xid")["xid"]
    assert any(meaning[int(codes[0].split()[1])]["name"] in e for e in r.evidence)
    assert any(e.strip().startswith(("[", "kern")) and "Xid" in e for e in r.evidence)  # a verbatim line
    assert r.fix and r.cause


def test_xid_counts_and_meaning():
    r = run("xid_errors", paste("dmesg-xid/xid-13-43-sm-exception-iso.txt"))
    assert r.evidence[0].startswith("Xid 13 (Graphics Engine Exception) x16 on 0000:38:00, "
                                    "last at 2025-01-21T04:41:44,285147+00:00: usually the application")
    assert r.evidence[2].startswith("Xid 43 (GPU stopped processing (channel reset)) x1 on 0000:38:00, last at")


@pytest.mark.parametrize("rel", ["dmesg-xid/fallen-off-bus-old-driver-optimus.txt",
                                 "dmesg-xid/fallen-off-bus-without-xid-open-kernel-570.txt"])
def test_fallen_off_bus_without_xid(rel):
    r = run("xid_errors", paste(rel))
    assert r.status == Status.FAIL and r.summary.startswith("GPU fell off the bus")
    assert any("fallen off the bus" in e for e in r.evidence)
    assert "reboot" in r.fix.summary


def test_xid_journal_ecc():
    r = run("xid_errors", paste(constructed=["gpu/journal-syslog-xid-94-48.txt"]))
    assert r.status == Status.FAIL and "Xid 94" in r.summary and "Xid 48" in r.summary


def test_xid_clean_and_unreadable_logs():
    clean = facts_from_bundle(Bundle(sections={"kernel_log": sec("", cmd="dmesg --ctime")}))  # constructed: empty log
    assert run("xid_errors", clean).status == Status.PASS
    assert run("xid_errors", paste("nvidia-smi-q/l40s-595.80.txt")).status == Status.UNKNOWN


def test_xid_yaml_covers_the_issue_list():
    table = load("xid")
    assert table["source"].startswith("https://docs.nvidia.com/")
    for code in (13, 31, 43, 48, 63, 64, 74, 79, 92, 94, 95, 109, 119, 120):
        assert {"name", "cause", "action", "level"} <= set(table["xid"][code])


# --- ecc_errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", [H100_Q, "nvidia-smi-q-xml/tesla-t4-515.105.01.txt",
                                 "nvidia-smi-query-csv/h100-590.48.01-query-gpu-all-fields.txt"])
def test_ecc_clean(rel):
    r = run("ecc_errors", paste(rel))
    assert r.status == Status.PASS and r.summary == "no uncorrectable ECC errors"


def test_ecc_not_on_consumer_gpu():
    assert run("ecc_errors", paste("nvidia-smi-q-xml/rtx3090-525.147.05.txt")).status == Status.SKIP


def test_ecc_uncorrectable_and_remap_failure():
    body = h100_q_with(("            DRAM Uncorrectable                         : 0",
                        "            DRAM Uncorrectable                         : 2"),
                       ("Remapping Failure Occurred                     : No",
                        "Remapping Failure Occurred                     : Yes"))
    r = run("ecc_errors", text_paste(body))
    assert r.status == Status.FAIL
    assert "GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): row remapping failure occurred" in r.evidence
    assert any("2 uncorrectable ECC error(s)" in e for e in r.evidence)
    assert "RMA" in r.fix.summary


def test_ecc_remap_pending():
    body = h100_q_with(("        Pending                                        : No\n        Remapping",
                        "        Pending                                        : Yes\n        Remapping"))
    r = run("ecc_errors", text_paste(body))
    assert r.status == Status.WARN and r.evidence == ["GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): row remapping pending"]


# --- throttling ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", [H100_Q, "nvidia-smi-q-xml/a10g-515.105.01.txt",
                                 "nvidia-smi-query-csv/l40s-595.80-query-gpu-all-fields.txt"])
def test_throttling_idle_is_fine(rel):
    assert run("throttling", paste(rel)).status == Status.PASS


def test_throttling_hw_slowdown():
    body = h100_q_with(("        HW Slowdown                                    : Not Active",
                        "        HW Slowdown                                    : Active"),
                       ("            HW Thermal Slowdown                        : Not Active",
                        "            HW Thermal Slowdown                        : Active"))
    r = run("throttling", text_paste(body))
    assert r.status == Status.WARN and "overheating" in r.cause
    assert r.evidence == ["GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): active HW Slowdown, HW Thermal Slowdown, 41 C"]


def test_throttling_unknown_from_table():
    assert run("throttling", paste("nvidia-smi-table/h200-590.48.01-idle.txt")).status == Status.UNKNOWN


# --- pcie_link ----------------------------------------------------------------------------------

def test_pcie_width_x8_real_t4():
    r = run("pcie_link", paste("nvidia-smi-q-xml/tesla-t4-515.105.01.txt"))
    assert r.status == Status.WARN
    assert r.evidence == ["GPU 0 (Tesla T4, 00000000:00:1E.0): link width x8 of x16"]
    assert "by design" in r.cause


def test_pcie_gen_low_at_idle_is_not_a_problem():
    r = run("pcie_link", paste("nvidia-smi-q/rtx2080super-610.57.04.txt"))
    assert r.status == Status.PASS
    assert any("PCIe gen 1 of 3 (P8, 0% busy): normal at idle" in e for e in r.evidence)
    r = run("pcie_link", paste("nvidia-smi-q-xml/rtx3060-570.124.04.txt"))
    assert r.status == Status.PASS


def test_pcie_full_link():
    r = run("pcie_link", paste(H100_Q))
    assert r.status == Status.PASS and r.evidence == ["GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0): gen 5/5, x16/16"]


def test_pcie_gen_low_under_load():
    r = run("pcie_link", one_gpu(pcie_gen_current=3, pcie_gen_max=5, pcie_width_current=16, pcie_width_max=16,
                                          utilization_pct=97, performance_state="P0"))
    assert r.status == Status.WARN and r.evidence[0].endswith("PCIe gen 3 of 5 (P0, 97% busy) while busy")


def test_pcie_width_from_sysfs():
    # constructed HGX sysfs view (one GPU trained x8) with a real nvidia-smi -L listing no link facts
    facts = facts_from_bundle(Bundle(sections={
        "pci_devices": sec(constructed_body("gpu/pci-devices-hgx-8gpu-4nvswitch.txt")),
        "nvidia_smi_list": sec("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-00000000-0000-0000-0000-000000000000)\n")}))
    # -L carries no bus id, so sysfs cannot be matched to it: unknown rather than a guess
    assert run("pcie_link", facts).status == Status.UNKNOWN


def test_pcie_width_from_sysfs_when_nvidia_smi_fails():
    # constructed: HGX sysfs view (the GPU at db:00.0 trained x8) while nvidia-smi could not run
    facts = facts_from_bundle(Bundle(sections={
        "pci_devices": sec(constructed_body("gpu/pci-devices-hgx-8gpu-4nvswitch.txt")),
        "nvidia_smi": sec("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", rc=9)}))
    r = run("pcie_link", facts)
    assert r.status == Status.WARN and r.evidence == ["GPU (0000:db:00.0): link width x8 of x16"]


def test_xid_unknown_code_still_reported():
    # constructed: an Xid code envdoctor's table does not describe
    r = run("xid_errors", text_paste("[  812.000001] NVRM: Xid (PCI:0000:01:00): 999, pid=1, name=x, test\n"))
    assert r.status == Status.WARN and "not in envdoctor's table" in r.evidence[0]
