"""Pastes as users bring them: Windows prompts and WDDM tables, the old collect_env wording, --query-gpu
CSV with hex clock-event masks, ldd resolving from another CUDA, a container's ulimit next to the host's."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts.system import build_system_facts
from envdoctor.diagnosis.paste import clean, for_scanning
from envdoctor.knowledge import load
from envdoctor.parsers import limits
from envdoctor.parsers import nvidia_smi as smi
from envdoctor.parsers import paste_blocks as pb
from envdoctor.parsers.collect_env import find_collect_env
from tests.corpus import constructed_body, corpus_body


def system_facts(text: str):
    return build_system_facts(Bundle(pastes=[clean(text)]))


# Windows
def test_wddm_table_is_read_and_says_windows():
    body = corpus_body("nvidia-smi-table/windows-gtx1050-461.72-wddm.txt")
    g = smi.find_table(body)[0].gpus[0]
    assert (g.name, g.driver_model, g.persistence_mode, g.temperature_c, g.memory_total_mib) == \
        ("GeForce GTX 105...", "WDDM", None, 61, 4096)
    f = system_facts(body)
    assert f.os_family == "windows" and "TCC/WDDM" in f.os_family_evidence[0]


def test_windows_collect_env_in_a_markdown_quote():
    f = system_facts(corpus_body("collect-env/windows-2x-titan-rtx-1.5.0-cu101-old-wording-yes.txt"))
    assert f.os_family == "windows"
    assert any(l.startswith("OS: Microsoft Windows Server 2019") for l in f.os_family_evidence)


def test_powershell_and_cmd_prompts():
    text = clean(constructed_body("paste/powershell-prompts-nvidia-smi-wddm.txt"))
    fam, ev = pb.os_family(text)
    assert fam == "windows" and ev[0].startswith("(base) PS C:\\Users\\me> python -c")
    scanned = for_scanning(text).splitlines()
    assert 'python -c "import torch; print(torch.__version__, torch.cuda.is_available())"' in scanned
    assert "nvidia-smi -L" in scanned  # cmd's "C:\Users\me>" prompt is dropped too
    assert smi.find_table(text)[0].gpus[0].driver_model == "WDDM"
    assert smi.find_list(text)[0].gpus[0].name == "GeForce GTX 1050"


def test_linux_and_wsl_pastes_are_not_windows():
    assert pb.os_family(corpus_body("collect-env/2x-titan-xp-1.4.0-cu100-driver-410-old-wording-no.txt"))[0] == "linux"
    # WSL shows Windows paths and WDDM in places, but the commands ran on Linux
    assert pb.os_family(corpus_body("collect-env/wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt"))[0] == "linux"
    assert pb.os_family(corpus_body("nvidia-smi-table/h100-80gb-hbm3-590.48.01-load.txt")) is None


def test_windows_evidence_only_from_the_paste():
    assert system_facts("$ nvidia-smi\nNo devices were found\n").os_family is None


# collect_env, old wording
def test_old_collect_env_wording_no():
    ce = find_collect_env(clean(corpus_body("collect-env/2x-titan-xp-1.4.0-cu100-driver-410-old-wording-no.txt")))
    assert ce.is_available is False and ce.torch_version == "1.4.0" and ce.cuda_build == "10.0"
    assert ce.driver_version == "410.129" and ce.gpus == ["TITAN Xp", "TITAN Xp"] and ce.cuda_runtime is None


def test_old_collect_env_wording_yes():
    ce = find_collect_env(clean(corpus_body("collect-env/windows-2x-titan-rtx-1.5.0-cu101-old-wording-yes.txt")))
    assert ce.is_available is True and ce.torch_version == "1.5.0+cu101" and ce.cuda_runtime == "10.1.243"
    assert ce.value("cuDNN version").startswith("C:\\Program Files\\NVIDIA GPU Computing Toolkit")


# --query-gpu CSV: temperatures and hex clock-event masks
def test_real_csv_mask_is_decoded():
    g = smi.find_query_csv(corpus_body("nvidia-smi-query-csv/h100-590.48.01-query-gpu-all-fields.txt"))[0].gpus[0]
    assert g.throttle_reasons_mask == "0x0000000000000001" and g.temperature_c == 41
    assert g.throttle_reasons_active == ["Idle"]  # the per-reason columns, and the mask agrees
    assert smi.decode_reasons(g.throttle_reasons_mask) == (["Idle"], None)


def test_old_field_names_hex_only():
    gs = smi.find_query_csv(constructed_body("paste/query-gpu-throttle-hex-old-names.txt"))[0].gpus
    assert (gs[0].temperature_c, gs[0].throttle_reasons_active) == (87, ["HW Slowdown", "SW Thermal Slowdown"])
    assert gs[1].throttle_reasons_active == [] and gs[1].throttle_reasons_unknown_bits == "0x800"


def test_bit_table_is_nvmls():
    bits = {r["name"]: r["bit"] for r in load("clock_event_reasons")["reasons"]}
    assert bits["HW Slowdown"] == 0x8 and bits["SW Thermal Slowdown"] == 0x20 and bits["HW Thermal Slowdown"] == 0x40
    assert smi.decode_reasons("[N/A]") is None and smi.decode_reasons("0x0000000000000000") == ([], None)


# ldd: a library resolved from another CUDA
def test_ldd_resolved_from_system_cuda():
    body = corpus_body("ldd/libcusparse-nvjitlink-from-cuda-12.1.txt")
    subject, lib = pb.cuda_libs_resolved(body)
    assert (subject.subject, subject.name, subject.origin) == (True, "libcusparse.so.12", "pip wheel")
    assert (lib.name, lib.path, lib.cuda_root, lib.cuda_version, lib.origin, lib.subject) == \
        ("libnvJitLink.so.12", "/usr/local/cuda-12.1/lib64/libnvJitLink.so.12", "/usr/local/cuda-12.1", "12.1",
         "system toolkit", False)
    f = system_facts(body)
    assert [l.cuda_version for l in f.cuda_libs_resolved] == [None, "12.1"]


def test_ldconfig_p_and_not_found_lines():
    # constructed: ldconfig -p's "(libc6,x86-64)" between name and arrow, and ldd's "not found"
    text = ("\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda-11.8/targets/x86_64-linux/lib/libcudart.so.11.0\n"
            "\tlibcublas.so.12 => not found\n"
            "\tlibcudnn.so.9 => /opt/venv/lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9 (0x00007f)\n")
    libs = pb.cuda_libs_resolved(text)
    assert [(l.name, l.cuda_version, l.origin) for l in libs] == [
        ("libcudart.so.11.0", "11.8", "system toolkit"), ("libcublas.so.12", None, None), ("libcudnn.so.9", None, "pip wheel")]
    assert libs[1].path is None


# ulimit -l: the container's next to the host's
def test_container_ulimit_next_to_hosts():
    body = corpus_body("container-config/ulimit-l-host-4096216-vs-container-8192.txt")
    r = limits.scan_ulimit(body)
    assert (r.scope, r.soft, r.host.soft) == ("container", 8192 * 1024, 4096216 * 1024)
    f = system_facts(body)
    assert f.memlock_soft_bytes == 8192 * 1024 and f.memlock_scope == "container"  # the one training gets
    assert f.memlock_host_soft_bytes == 4096216 * 1024 and f.memlock_host_evidence == ["$ ulimit -l", "4096216"]


def test_docker_run_ulimit_line_is_the_containers():
    # constructed: the one-liner form, host's first
    text = "$ ulimit -l\nunlimited\n$ docker run --rm --gpus all trainer-image:24.05 bash -c 'ulimit -l'\n64\n"
    r = limits.scan_ulimit(text)
    assert (r.scope, r.soft, r.host.soft) == ("container", 64 * 1024, limits.UNLIMITED)


def test_single_ulimit_is_unscoped():
    r = limits.scan_ulimit(corpus_body("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert r.scope is None and r.host is None and r.soft == 64 * 1024


# Round 3: shapes the measured blind cases showed (each a real paste of tests/data/corpus/cases/)
R3 = "cases/r2-torch-python/"


def test_issue_template_bullets_give_the_build_from_the_version_label():
    from envdoctor.parsers.collect_env import find_issue_template
    ce = find_issue_template(corpus_body(R3 + "arch_not_in_wheel--pytorch-160804-rtx5090-torch220-cu121.txt"))
    assert (ce.torch_version, ce.cuda_build, ce.gpus) == ("2.2.0+cu121", "12.1", ["NVIDIA GeForce RTX 5090 (32GB GDDR7)"])
    # a bare version says nothing of the build: no block, so no "CPU-only" guess
    assert find_issue_template(corpus_body(R3 + "multiple_pythons--pytorch-13536-jupyter-not-in-new-conda-env.txt")) is None


def test_one_liner_with_several_prints_and_prose_between():
    from envdoctor.parsers.python_session import session_values
    body = corpus_body(R3 + "cuda_visible_devices--pytorch-40618-visible-set-empty-in-process.txt")
    assert session_values(body) == {"is_available": False, "device_count": 0}
    # the in-process assignment is the one in effect, not the shell's prefix
    assert pb.cuda_visible_devices(body) == ""


def test_ldd_subject_of_a_pip_wheel_with_a_system_toolkit_dependency_is_mixed():
    from envdoctor.diagnosis.root_cause import EVIDENCE
    from envdoctor.facts import HostFacts
    f = HostFacts(system=system_facts(corpus_body("ldd/libcusparse-nvjitlink-from-cuda-12.1.txt")))
    ok, why = EVIDENCE["cuda_libs_mixed"](f)
    assert ok is True and "libnvJitLink.so.12" in why and "/usr/local/cuda-12.1" in why
