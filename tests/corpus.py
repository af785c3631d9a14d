"""Read the recorded real outputs in tests/data/corpus/: header lines, then the verbatim body."""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
_HEADER = re.compile(r"^# (source|command|cause|class|note): ")


def corpus_path(rel: str) -> Path:
    return DATA / "corpus" / rel


def corpus_body(rel: str) -> str:
    """The verbatim output of a corpus file, without its header lines."""
    lines = corpus_path(rel).read_text().splitlines(keepends=True)
    i = 0
    while i < len(lines) and _HEADER.match(lines[i]):
        i += 1
    return "".join(lines[i:])


def corpus_headers(rel: str) -> dict[str, str]:
    out = {}
    for line in corpus_path(rel).read_text().splitlines():
        m = _HEADER.match(line)
        if not m:
            break
        out.setdefault(m.group(1), line[m.end():])
    return out


def constructed_body(rel: str) -> str:
    """A constructed input (first line '# constructed: ...' is dropped)."""
    text = (DATA / "constructed" / rel).read_text()
    assert text.startswith("# constructed:"), f"{rel} must say it is constructed"
    return text.split("\n", 1)[1]


CASES = DATA / "corpus" / "cases"


def case_files() -> list[str]:
    """Collected real cases (cases/<collector>/*.txt), relative to the corpus folder."""
    return sorted(str(p.relative_to(DATA / "corpus")) for p in CASES.glob("*/*.txt"))


# Cause classes (see the root-cause vocabulary in envdoctor/data/signatures/_causes.yaml) of the older
# corpus files, from each file's `# cause:` line; files whose thread reached no clear cause are left out.
LABELLED = {
    "errors/cuda-driver-insufficient-deviceQuery-result-fail.txt": "driver_too_old",
    "errors/cuda-driver-insufficient-torch-thcgeneral.txt": "driver_too_old",
    "errors/dataloader-bus-error-missing-ipc-host.txt": "shm_too_small",
    "errors/dataloader-bus-error-shm-jupyterhub.txt": "shm_too_small",
    "errors/dataloader-bus-error-shm-mmsegmentation.txt": "shm_too_small",
    "errors/docker-could-not-select-device-driver-no-quotes-variant.txt": "toolkit_missing",
    "errors/docker-could-not-select-device-driver-toolkit-missing.txt": "toolkit_missing",
    "errors/nccl-ibv-create-qp-failed-unhandled-system-error.txt": "memlock_too_low",
    "errors/no-kernel-image-extension-vs-torch-version.txt": "extension_build_mismatch",
    "errors/nvidia-container-cli-load-library-libnvidia-ml.txt": "container_cli_init",
    "errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt": "container_cli_init",
    "errors/nvidia-container-cli-driver-rpc-error-legacy-mode.txt": "container_cli_init",
    "errors/nvidia-container-cli-driver-error-failed-to-process-request-cuda-na.txt": "container_cli_init",
    "errors/nvidia-smi-couldnt-communicate-after-unattended-upgrade.txt": "driver_library_mismatch",
    "errors/nvidia-smi-unable-to-determine-device-handle.txt": "gpu_hardware_xid",
    "errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt": "driver_library_mismatch",
    "errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt": "driver_library_mismatch",
    "errors/torch-driver-too-old-11000-ngc-container.txt": "driver_too_old",
    "errors/torch-driver-too-old-11040-with-proc-version.txt": "driver_too_old",
    "errors/torch-driver-too-old-9000-assertionerror.txt": "driver_too_old",
    "errors/torch-old-gpu-sm35-too-old.txt": "arch_not_in_wheel",
    "errors/torch-sm120-not-compatible-leggedlab.txt": "arch_not_in_wheel",
    "dmesg-xid/fallen-off-bus-old-driver-optimus.txt": "gpu_hardware_xid",
    "dmesg-xid/fallen-off-bus-without-xid-open-kernel-570.txt": "gpu_hardware_xid",
    "dmesg-xid/xid-119-gsp-rpc-timeout.txt": "gsp_firmware",
    "dmesg-xid/xid-13-43-sm-exception-iso.txt": "gpu_hardware_xid",
    "dmesg-xid/xid-79-sxid-20034-nvswitch.txt": "gpu_hardware_xid",
    "collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt": "torch_cpu_only_build",
    "collect-env/cu102-build-driver-too-old-9010.txt": "driver_too_old",
    "collect-env/rtx4090-2.5.1-cu121-driver-535.txt": "healthy",
    "collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt": "healthy",
}
# Healthy outputs of working machines: every file of these folders, but for the ones that show a fault.
HEALTHY_DIRS = ("nvidia-smi-table", "nvidia-smi-q", "nvidia-smi-q-xml", "nvidia-smi-query-csv", "nvidia-smi-misc")
NOT_HEALTHY = {"nvidia-smi-table/gtx-titan-325.15-lost-gpu-MB-units.txt", "nvidia-smi-table/rtx5070-575.64.03-cuda-na.txt"}


def labelled_cases() -> dict[str, str]:
    """Every corpus file with a cause class: collected cases (`# class:`) and the older labelled files."""
    out = dict(LABELLED)
    for d in HEALTHY_DIRS:
        for p in sorted((DATA / "corpus" / d).glob("*.txt")):
            rel = f"{d}/{p.name}"
            if rel not in NOT_HEALTHY:
                out[rel] = "healthy"
    for rel in case_files():
        cls = corpus_headers(rel).get("class", "").strip()
        if cls:
            out[rel] = cls
    return out


# Cases we do not score, each with the reason (the files stay as collected).
EXCLUDED: dict[str, str] = {}


# Blind splits, once measured, are recorded (docs/diagnosis-accuracy.md) and the next round may tune on
# them: blind-1 and blind-2 were measured at the round-2 freeze and tuned on in round 3, blind-5 at the
# round-5 freeze and tuned on in round 6, blind-6 at the round-6 freeze and tuned on in round 7, blind-7 at
# the round-7 freeze and tuned on in round 8. Only the splits listed here are blind now: blind-8 is
# collected outside the repository while round 8 is tuned, so it has no files here until its measurement.
BLIND_NOW = ("blind-8",)


def split_of(rel: str) -> str:
    """Which split a case belongs to: `blind-N` (cases/blind-N-*: collected by collectors the tuners did
    not read; blind-1 while round 2 was tuned, blind-2 after it was frozen, blind-3 while round 3 was
    tuned, blind-4 after it was frozen, blind-5 after round 5 was frozen, blind-6 while round 6 was
    tuned, blind-7 while round 7 was tuned), `r2` (cases/r2-*: the second round), or `tuned` (older)."""
    folder = rel.split("/")[1] if rel.startswith("cases/") else ""
    if folder.startswith("blind-"):
        return "-".join(folder.split("-")[:2])
    return "r2" if folder.startswith("r2-") else "tuned"


def is_blind(rel: str) -> bool:
    """Blind now: never a per-case test, never tuned on (BLIND_NOW)."""
    return split_of(rel) in BLIND_NOW


def diagnose_paste(text: str, checks):
    """What `check --from` gives for this pasted text: (named cause class, failing check ids, report).
    The named class is the root cause's when it is established or the most likely one, "undetermined" when
    a failure is recognised but its cause is not determined, else "healthy"."""
    from envdoctor.diagnosis.bundle import Bundle
    from envdoctor.diagnosis.diagnose import report_from_bundle
    from envdoctor.diagnosis.paste import clean

    report, _ = report_from_bundle(Bundle(host="paste", pastes=[clean(text)]), checks)
    h = report
    root = h.root_cause
    if root is not None and root.cause_id:
        named = root.cause_id
    elif root is not None and root.state == "undetermined":
        named = "undetermined"
    else:
        named = "healthy"
    failing = [c.id for c in report.checks if c.status.value == "fail" and c.id != "root_cause"]
    return named, failing, report
