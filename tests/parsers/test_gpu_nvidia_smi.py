"""nvidia-smi parsers on the real recorded outputs of tests/data/corpus/ (every table, -q, XML, CSV
and misc file), each with concrete values read from the file."""

import pytest

from envdoctor.parsers import nvidia_smi as smi
from tests.corpus import corpus_body

# file -> (GPUs, driver, CUDA, first GPU name, first GPU memory MiB, first GPU bus id)
TABLES = {
    "a100-sxm4-40gb-580.126.09-exclusive-process-partial.txt": (2, "580.126.09", "13.0", "NVIDIA A100-SXM4-40GB", 40960, "00000000:10:1C.0"),
    "grid-k520-346.46-no-cuda-version.txt": (1, "346.46", None, "GRID K520", 4095, "0000:00:03.0"),
    "gtx-titan-325.15-lost-gpu-MB-units.txt": (3, "325.15", None, "GeForce GTX TITAN", 6143, "0000:03:00.0"),
    "h100-80gb-hbm3-590.48.01-load.txt": (1, "590.48.01", "13.1", "NVIDIA H100 80GB HBM3", 81559, "00000000:00:09.0"),
    "h100-mig-590.48.01-idle.txt": (1, "590.48.01", "13.1", "NVIDIA H100 80GB HBM3", 81559, "00000000:00:09.0"),
    "h200-590.48.01-idle.txt": (1, "590.48.01", "13.1", "NVIDIA H200", 143771, "00000000:83:00.0"),
    "h200-mig-590.48.01-load.txt": (1, "590.48.01", "13.1", "NVIDIA H200", 143771, "00000000:83:00.0"),
    "l40s-595.80-idle.txt": (1, "595.80", "13.2", "NVIDIA L40S", 46068, "00000000:01:00.0"),
    "rtx2080super-610.57.04-idle.txt": (1, "610.57.04", "13.3", "NVIDIA GeForce RTX 2080 ...", 8192, "00000000:0C:00.0"),
    "rtx3090-465.19.01-partial.txt": (1, "465.19.01", "11.3", "NVIDIA GeForce ...", 24259, "00000000:01:00.0"),
    "rtx4080super-595.71.05-load.txt": (1, "595.71.05", "13.2", "NVIDIA GeForce RTX 4080 ...", 16376, "00000000:01:00.0"),
    "rtx4090d-550.107.02.txt": (1, "550.107.02", "12.4", "NVIDIA GeForce RTX 4090 D", 24564, "00000000:B8:00.0"),
    "rtx5070-575.64.03-cuda-na.txt": (1, "575.64.03", None, "NVIDIA GeForce RTX 5070", 12227, "00000000:02:00.0"),
    "titan-xp-450.57.txt": (1, "450.57", "11.0", "TITAN Xp", 12196, "00000000:17:00.0"),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table(name):
    n, drv, cuda, gname, mem, bus = TABLES[name]
    blocks = smi.find_table(corpus_body(f"nvidia-smi-table/{name}"))
    assert len(blocks) == 1
    b = blocks[0]
    assert (len(b.gpus), b.driver_version, b.cuda_version) == (n, drv, cuda)
    g = b.gpus[0]
    assert (g.index, g.name, g.memory_total_mib, g.pci_bus_id) == (0, gname, mem, bus)
    assert [x.index for x in b.gpus] == list(range(n))


def test_table_details():
    b = smi.find_table(corpus_body("nvidia-smi-table/h100-80gb-hbm3-590.48.01-load.txt"))[0]
    g = b.gpus[0]
    assert (g.persistence_mode, g.temperature_c, g.performance_state, g.power_draw_w, g.power_limit_w) == \
        (True, 59, "P0", 629.0, 700.0)
    assert (g.memory_used_mib, g.utilization_pct, g.ecc_uncorrected_volatile, g.mig_mode_current) == \
        (19818, 100, 0, False)
    assert g.datacenter is True
    # the 610 branch renamed the header fields to "KMD Version" / "CUDA UMD Version"
    b = smi.find_table(corpus_body("nvidia-smi-table/rtx2080super-610.57.04-idle.txt"))[0]
    assert (b.smi_version, b.gpus[0].performance_state, b.gpus[0].persistence_mode) == ("610.57.04", "P8", False)
    assert b.gpus[0].datacenter is False
    # the very old layout: MB units, "NVIDIA-SMI 5.325.15", N/A perf state
    b = smi.find_table(corpus_body("nvidia-smi-table/gtx-titan-325.15-lost-gpu-MB-units.txt"))[0]
    assert [g.pci_bus_id for g in b.gpus] == ["0000:03:00.0", "0000:04:00.0", "0000:84:00.0"]
    assert b.smi_version == "5.325.15" and b.gpus[1].memory_used_mib == 14 and b.gpus[0].performance_state is None


def test_table_mig_devices_counted():
    idle = smi.find_table(corpus_body("nvidia-smi-table/h100-mig-590.48.01-idle.txt"))[0].gpus[0]
    assert (idle.mig_mode_current, idle.mig_devices) == (True, 4)
    load = smi.find_table(corpus_body("nvidia-smi-table/h200-mig-590.48.01-load.txt"))[0].gpus[0]
    assert (load.mig_mode_current, load.mig_devices, load.memory_used_mib) == (True, 5, 16959)


# -q: file -> (driver, CUDA, name, memory MiB, persistence, PCIe gen cur/max, width cur/max)
Q_FILES = {
    "h100-80gb-hbm3-590.48.01.txt": ("590.48.01", "13.1", "NVIDIA H100 80GB HBM3", 81559, True, (5, 5), (16, 16)),
    "h200-mig-590.48.01.txt": ("590.48.01", "13.1", "NVIDIA H200", 143771, True, (5, 5), (16, 16)),
    "l40s-595.80.txt": ("595.80", "13.2", "NVIDIA L40S", 46068, False, (4, 4), (16, 16)),
    "rtx2080super-610.57.04.txt": ("610.57.04", "13.3", "NVIDIA GeForce RTX 2080 SUPER", 8192, False, (1, 3), (16, 16)),
    "tesla-t4-440.33.01-partial.txt": ("440.33.01", "10.2", "Tesla T4", None, True, (None, None), (None, None)),
}


@pytest.mark.parametrize("name", sorted(Q_FILES))
def test_q(name):
    drv, cuda, gname, mem, pm, gen, width = Q_FILES[name]
    blocks = smi.find_q(corpus_body(f"nvidia-smi-q/{name}"))
    assert len(blocks) == 1
    b = blocks[0]
    assert (b.driver_version, b.cuda_version, b.attached_gpus, len(b.gpus)) == (drv, cuda, 1, 1)
    g = b.gpus[0]
    assert (g.name, g.memory_total_mib, g.persistence_mode) == (gname, mem, pm)
    assert (g.pcie_gen_current, g.pcie_gen_max) == gen
    assert (g.pcie_width_current, g.pcie_width_max) == width


def test_q_details():
    g = smi.find_q(corpus_body("nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt"))[0].gpus[0]
    assert (g.pci_bus_id, g.pci_device_id, g.architecture, g.product_brand) == ("00000000:00:09.0", "2330", "Hopper", "NVIDIA")
    assert (g.mig_mode_current, g.mig_mode_pending, g.mig_devices) == (False, False, 0)
    assert (g.ecc_mode_current, g.ecc_uncorrected_volatile, g.ecc_uncorrected_aggregate) == (True, 0, 0)
    assert (g.remapped_rows_pending, g.remapped_rows_failure) == (False, False)
    assert g.throttle_reasons_active == ["Idle"]
    assert (g.fabric_state, g.fabric_status, g.power_limit_w, g.temperature_c) == ("Completed", "Success", 700.0, 41)
    mig = smi.find_q(corpus_body("nvidia-smi-q/h200-mig-590.48.01.txt"))[0].gpus[0]
    assert (mig.mig_mode_current, mig.mig_mode_pending, mig.mig_devices) == (True, True, 5)
    assert mig.remapped_rows_pending is None  # "Remapped Rows : N/A" in MIG mode
    rtx = smi.find_q(corpus_body("nvidia-smi-q/rtx2080super-610.57.04.txt"))[0].gpus[0]
    assert (rtx.pcie_gen_host_max, rtx.performance_state, rtx.ecc_mode_current, rtx.datacenter) == (4, "P8", None, False)


# XML: file -> (driver, CUDA, attached, name, memory, persistence, MIG current, MIG devices)
# MIG "N/A" (no MIG on this GPU) reads as MIG not enabled, False; a missing field stays None
XML_FILES = {
    "a100-sxm4-80gb-mig-535.54.03.txt": ("535.54.03", "12.2", 4, "NVIDIA A100-SXM4-80GB", 81920, False, True, 4),
    "a10g-515.105.01.txt": ("515.105.01", "11.7", 1, "NVIDIA A10G", 23028, False, False, 0),
    "rtx3060-570.124.04.txt": ("570.124.04", "12.8", 1, "NVIDIA GeForce RTX 3060", 12288, True, False, 0),
    "rtx3090-525.147.05.txt": ("525.147.05", "12.0", 1, "NVIDIA GeForce RTX 3090", 24576, True, False, 0),
    "tesla-t4-515.105.01.txt": ("515.105.01", "11.7", 1, "Tesla T4", 15360, False, False, 0),
}


@pytest.mark.parametrize("name", sorted(XML_FILES))
def test_xml(name):
    drv, cuda, attached, gname, mem, pm, mig, migs = XML_FILES[name]
    blocks = smi.find_xml(corpus_body(f"nvidia-smi-q-xml/{name}"))
    assert len(blocks) == 1
    b = blocks[0]
    assert (b.driver_version, b.cuda_version, b.attached_gpus, len(b.gpus)) == (drv, cuda, attached, 1)
    g = b.gpus[0]
    assert (g.name, g.memory_total_mib, g.persistence_mode, g.mig_mode_current, g.mig_devices) == \
        (gname, mem, pm, mig, migs)
    assert g.uuid.startswith("GPU-")


def test_xml_details():
    t4 = smi.find_xml(corpus_body("nvidia-smi-q-xml/tesla-t4-515.105.01.txt"))[0].gpus[0]
    assert (t4.pcie_width_current, t4.pcie_width_max, t4.pcie_gen_current, t4.pcie_gen_max) == (8, 16, 3, 3)
    assert (t4.retired_pages_pending, t4.retired_pages_dbe, t4.ecc_uncorrected_volatile) == (False, 0, 0)
    assert (t4.throttle_reasons_active, t4.performance_state, t4.datacenter) == ([], "P0", True)
    assert t4.pci_device_id == "1eb8"
    a10g = smi.find_xml(corpus_body("nvidia-smi-q-xml/a10g-515.105.01.txt"))[0].gpus[0]
    assert (a10g.remapped_rows_pending, a10g.remapped_rows_failure) == (False, False)
    assert a10g.throttle_reasons_active == ["Idle"] and a10g.pci_device_id is None  # "000000DE" in the fixture
    # DTD v12 renamed clocks_throttle_reasons to clocks_event_reasons
    rtx = smi.find_xml(corpus_body("nvidia-smi-q-xml/rtx3060-570.124.04.txt"))[0].gpus[0]
    assert (rtx.throttle_reasons_active, rtx.pcie_gen_current, rtx.pcie_gen_max, rtx.pci_device_id) == (["Idle"], 1, 4, "2487")
    a100 = smi.find_xml(corpus_body("nvidia-smi-q-xml/a100-sxm4-80gb-mig-535.54.03.txt"))[0].gpus[0]
    assert (a100.pci_device_id, a100.ecc_mode_current, a100.remapped_rows_pending) == ("20b2", True, None)


def test_xml_cut_in_a_paste_is_skipped():
    body = corpus_body("nvidia-smi-q-xml/tesla-t4-515.105.01.txt")
    assert smi.find_xml(body[: len(body) // 2]) == []
    assert smi.find_xml("logs before\n" + body + "\nlogs after")[0].gpus[0].name == "Tesla T4"


# --query-gpu CSV
def test_query_gpu_all_fields():
    h100 = smi.find_query_csv(corpus_body("nvidia-smi-query-csv/h100-590.48.01-query-gpu-all-fields.txt"))
    assert len(h100) == 1 and h100[0].driver_version == "590.48.01"
    g = h100[0].gpus[0]
    assert (g.index, g.name, g.pci_bus_id, g.memory_total_mib, g.compute_capability) == \
        (0, "NVIDIA H100 80GB HBM3", "00000000:00:09.0", 81559, "9.0")
    assert (g.persistence_mode, g.ecc_uncorrected_volatile, g.remapped_rows_pending, g.remapped_rows_failure) == \
        (True, 0, False, False)
    assert (g.pcie_gen_current, g.pcie_gen_max, g.pcie_width_current, g.throttle_reasons_active) == (5, 5, 16, ["Idle"])
    l40s = smi.find_query_csv(corpus_body("nvidia-smi-query-csv/l40s-595.80-query-gpu-all-fields.txt"))[0]
    assert (l40s.driver_version, l40s.gpus[0].name, l40s.gpus[0].compute_capability) == ("595.80", "NVIDIA L40S", "8.9")
    rtx = smi.find_query_csv(corpus_body("nvidia-smi-query-csv/rtx4080super-595.71.05-query-gpu-all-fields.txt"))[0]
    g = rtx.gpus[0]
    assert (g.name, g.performance_state, g.pcie_gen_host_max, g.ecc_mode_current) == \
        ("NVIDIA GeForce RTX 4080 SUPER", "P2", 5, None)


def test_query_gpu_loop_keeps_last_sample():
    blocks = smi.find_query_csv(corpus_body("nvidia-smi-query-csv/gpu-520.56.06-loop-temps-clocks.txt"))
    assert len(blocks) == 1 and len(blocks[0].gpus) == 1
    g = blocks[0].gpus[0]
    assert (g.index, g.temperature_c, g.utilization_pct, g.performance_state, g.power_draw_w) == (0, 55, 25, "P3", 83.43)


@pytest.mark.parametrize("name", ["h100-590.48.01-query-compute-apps-load.txt", "h200-mig-590.48.01-query-compute-apps.txt",
                                  "h100-590.48.01-query-retired-pages.txt"])
def test_per_process_and_retired_page_csv_are_not_gpu_lists(name):
    body = corpus_body(f"nvidia-smi-query-csv/{name}")
    assert "NVIDIA H" in body  # the GPU name is in every row, yet these are not per-GPU tables
    assert smi.find_query_csv(body) == []


# -L, --version, nvlink, topo
def test_list_L():
    mig = smi.find_list(corpus_body("nvidia-smi-misc/h100-mig-590.48.01-list-L.txt"))[0].gpus
    assert len(mig) == 1 and mig[0].name == "NVIDIA H100 80GB HBM3"
    assert mig[0].mig_devices == 4 and mig[0].mig_instances[0] == "MIG 3g.40gb Device 0"
    quadro = smi.find_list(corpus_body("nvidia-smi-misc/quadro-rtx4000-x2-list-L.txt"))[0].gpus
    assert [(g.index, g.name, g.uuid) for g in quadro] == [
        (0, "Quadro RTX 4000", "GPU-c7b57be0-94ff-d352-a59b-d0ee00aeed43"),
        (1, "Quadro RTX 4000", "GPU-d6de6afc-bdfe-75c4-5273-0544439153fc")]
    assert quadro[0].datacenter is False
    # nvlink --status starts each GPU with the -L line: 8 A100s
    a100 = smi.find_list(corpus_body("nvidia-smi-misc/a100-nvlink-status.txt"))[0].gpus
    assert len(a100) == 8 and a100[7].uuid == "GPU-754035b4-4708-efcd-b261-623aea38bcad"
    nv = smi.find_list(corpus_body("nvidia-smi-misc/h100-mig-590.48.01-nvlink-s.txt"))[0].gpus
    assert nv[0].name == "NVIDIA H100 80GB HBM3" and nv[0].mig_devices is None


def test_version():
    v = smi.find_version(corpus_body("nvidia-smi-misc/h100-590.48.01-version.txt"))
    assert v == {"smi": "590.48.01", "nvml": "590.48", "driver": "590.48.01", "cuda": "13.1"}


def test_topo_holds_no_gpu_list():
    body = corpus_body("nvidia-smi-misc/h200-590.48.01-topo-m.txt")
    assert "GPU0" in body and smi.find_all(body) == []


# errors
@pytest.mark.parametrize("rel,kind,text", [
    ("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt", "mismatch",
     "Failed to initialize NVML: Driver/library version mismatch"),
    ("errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt", "mismatch",
     "Failed to initialize NVML: Driver/library version mismatch"),
    ("errors/nvidia-smi-couldnt-communicate-after-unattended-upgrade.txt", "no_driver_comm",
     "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
     "NVIDIA driver is installed and running."),
    ("errors/nvidia-smi-unable-to-determine-device-handle.txt", "lost",
     "Unable to determine the device handle for GPU0000:91:00.0: Unknown Error"),
])
def test_error_lines(rel, kind, text):
    assert smi.find_errors(corpus_body(rel)) == [(kind, text)]


def test_container_cli_driver_not_loaded():
    errs = smi.find_errors(corpus_body("errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt"))
    # the knowledge base names it: smi_cannot_communicate ("nvml error: driver not loaded")
    assert len(errs) == 1 and errs[0][0] == "no_driver_comm"
    assert errs[0][1].endswith("nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown.")


def test_healthy_outputs_hold_no_error():
    for rel in ("nvidia-smi-table/h100-80gb-hbm3-590.48.01-load.txt", "nvidia-smi-q/l40s-595.80.txt",
                "nvidia-smi-q-xml/rtx3090-525.147.05.txt"):
        assert smi.find_errors(corpus_body(rel)) == []


def test_constructed_error_lines():
    # constructed: the wording of messages the corpus has no real capture of
    text = ("No devices were found\nFailed to initialize NVML: Driver/library version mismatch\n"
            "NVML library version: 535.183\nUnable to determine the device handle for GPU 0000:3B:00.0: GPU is lost.  "
            "Reboot the system to recover this GPU\nRuntimeError: Found no NVIDIA driver on your system.\n")
    kinds = [k for k, _ in smi.find_errors(text)]
    assert kinds == ["no_devices", "mismatch", "lost", "no_driver"]
    assert smi.find_nvml_library_version(text) == "535.183"


@pytest.mark.parametrize("bus,norm", [("00000000:01:00.0", "0000:01:00.0"), ("0000:B8:00.0", "0000:b8:00.0"),
                                      ("PCI:0000:9b:00", "0000:9b:00.0"), ("17:00.0", "0000:17:00.0")])
def test_normalize_bus_id(bus, norm):
    assert smi.normalize_bus_id(bus) == norm


@pytest.mark.parametrize("name,brand,dc", [("NVIDIA H100 80GB HBM3", "NVIDIA", True), ("Tesla T4", "Tesla", True),
                                           ("NVIDIA A10G", "NVIDIA", True), ("NVIDIA GeForce RTX 3090", "GeForce", False),
                                           ("Quadro RTX 4000", None, False), ("NVIDIA GeForce ...", None, False),
                                           ("NVIDIA L40S", None, True), ("TITAN Xp", None, False)])
def test_datacenter(name, brand, dc):
    assert smi.is_datacenter(name, brand) is dc


def test_table_pasted_as_markdown_quote_and_indented():
    body = corpus_body("nvidia-smi-table/titan-xp-450.57.txt")
    quoted = "\n".join("> " + line for line in body.splitlines())  # constructed: how GitHub quotes a paste
    indented = "\n".join("    " + line for line in body.splitlines())
    for text in (quoted, indented):
        b = smi.find_table(text)[0]
        assert (b.driver_version, b.gpus[0].name, b.gpus[0].memory_total_mib) == ("450.57", "TITAN Xp", 12196)
    assert smi.find_list("> " + corpus_body("nvidia-smi-misc/quadro-rtx4000-x2-list-L.txt"))[0].gpus[0].name == \
        "Quadro RTX 4000"


def test_q_block_ends_at_the_next_command():
    # a paste: the real L40S -q, then a shell prompt and the real Xid lines; the -q block must stop at the prompt
    text = corpus_body("nvidia-smi-q/l40s-595.80.txt") + "$ sudo dmesg\n" + corpus_body("dmesg-xid/xid-13-109-ctime-peermem.txt")
    b = smi.find_q(text)
    assert len(b) == 1 and b[0].gpus[0].name == "NVIDIA L40S" and b[0].gpus[0].pcie_gen_max == 4
    assert smi.find_errors(text) == []
