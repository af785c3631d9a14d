"""NVIDIA Container Toolkit present where a container engine is, and its hook errors."""

from envdoctor.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.models import Fix

INSTALL = Fix(
    summary="Install the NVIDIA Container Toolkit on the host that runs the container engine, register it "
            "with docker, and restart docker.",
    commands=["sudo apt-get install -y nvidia-container-toolkit   # after adding NVIDIA's repository; "
              "dnf/yum/zypper have the same package",
              "sudo nvidia-ctk runtime configure --runtime=docker",
              "sudo systemctl restart docker",
              "docker run --rm --gpus all ubuntu nvidia-smi   # verify"],
)

# What each recognised hook error means, and what to do (kind -> (cause, fix summary, commands))
HOOK_CAUSES = {
    "no-gpu-device-driver": (
        "dockerd has no device driver for `--gpus`: the NVIDIA Container Toolkit is not installed on the docker "
        "host, or dockerd cannot see it (docker installed as a snap, or docker not restarted after the install)",
        INSTALL.summary, INSTALL.commands),
    "nvml-library-missing": (
        "the toolkit's hook could not load the driver's libnvidia-ml.so.1 on the host: the NVIDIA driver's "
        "user-space libraries are missing or not in the ld cache (driver not installed, half-upgraded, or "
        "installed where ldconfig does not look)",
        "Repair the host's NVIDIA driver so that `nvidia-smi` works on the host, then refresh the ld cache.",
        ["nvidia-smi   # on the host", "sudo ldconfig", "ldconfig -p | grep libnvidia-ml"]),
    "driver-not-loaded": (
        "the NVIDIA kernel module is not loaded on the host (NVML says 'driver not loaded')",
        "Load (or reinstall) the NVIDIA kernel driver on the host; `nvidia-smi` must work there first.",
        ["sudo modprobe nvidia", "nvidia-smi", "dmesg | grep -i -e nvrm -e nvidia"]),
    "driver-rpc-error": (
        "nvidia-container-cli's driver RPC failed: usually the host driver is unusable (a version mismatch "
        "after an upgrade, or a failed module load)",
        "Check the host driver (`nvidia-smi` on the host); reboot after a driver upgrade.",
        ["nvidia-smi", "cat /proc/driver/nvidia/version"]),
    "driver-error": (
        "nvidia-container-cli could not query the host driver ('driver error: failed to process request'): the "
        "host driver is not usable by CUDA (e.g. nvidia-smi shows 'CUDA Version: N/A')",
        "Repair or reinstall the host NVIDIA driver until `nvidia-smi` works there.",
        ["nvidia-smi", "cat /proc/driver/nvidia/version"]),
    "cuda-error-unknown": (
        "the hook's CUDA check failed with an unknown error: the host driver and its CUDA library do not work "
        "together (wrong or half-installed driver)",
        "Install a driver that matches the host's CUDA libraries (from NVIDIA's repository) and reboot.",
        ["nvidia-smi", "cat /proc/driver/nvidia/version"]),
    "requirement-error": (
        "the image requires a newer CUDA than the host driver supports (NVIDIA_REQUIRE_CUDA not satisfied)",
        "Upgrade the host driver, or use an image built for an older CUDA.",
        ["nvidia-smi   # 'CUDA Version' is the newest CUDA the driver supports"]),
}


def _engines(c) -> list[str]:
    return [n for n, present in (("docker", c.docker_installed), ("podman", c.podman_installed)) if present]


@check("container_toolkit", "NVIDIA Container Toolkit is installed for the container engine", order=760,
       playbook="container-toolkit.yml")
def container_toolkit(facts):
    """Containers reach the GPU through the NVIDIA Container Toolkit (`nvidia-ctk`,
    `nvidia-container-cli`, the runtime hook): without it `docker run --gpus all` fails with
    'could not select device driver "" with capabilities: [[gpu]]'. The toolkit goes on the host that
    runs the container engine.

    Verdict: fail when a pasted docker/hook error names a cause (the toolkit missing, or the host
    driver the hook could not use: libnvidia-ml.so.1 not found, driver not loaded, driver RPC error,
    CUDA unknown error, unmet CUDA requirement); pass when the toolkit is installed; warn when docker or
    podman is installed without it; skip when there is no container engine, or no NVIDIA GPU.
    Evidence: `nvidia-ctk --version`, `nvidia-container-cli --version`/`info`, PATH, pasted errors."""
    c = facts.container
    if c.error_details:
        e = c.error_details[0]
        cause, summary, commands = HOOK_CAUSES.get(e.kind, (None, None, None))
        if cause:
            return fail(f"a GPU container failed to start: {e.line[:120]}", [d.line for d in c.error_details],
                        cause=cause, fix=Fix(summary=summary, commands=commands))
    versions = [f"{n} {v}" for n, v in (("nvidia-ctk", c.nvidia_ctk_version),
                                         ("nvidia-container-cli", c.nvidia_container_cli_version),
                                         ("nvidia-container-toolkit", c.nvidia_container_toolkit_version)) if v]
    engines = _engines(c)
    if c.toolkit_installed:
        ev = versions[:]
        if c.container_cli_info and c.container_cli_info.nvrm_version:
            ev.append(f"nvidia-container-cli info: NVRM {c.container_cli_info.nvrm_version}, CUDA "
                      f"{c.container_cli_info.cuda_version}, {len(c.container_cli_info.devices)} GPU(s)")
        return passed("NVIDIA Container Toolkit installed" + (f" ({', '.join(versions)})" if versions else ""), ev)
    if c.docker_installed is False and c.podman_installed is False:
        return skip("no container engine (docker, podman) installed")
    if not engines:
        return unknown("not known whether docker or podman is installed", missing=["docker info", "command -v docker"])
    if c.toolkit_installed is None:
        return unknown(f"{' and '.join(engines)} installed; whether the NVIDIA Container Toolkit is installed is "
                       "not known", missing=["nvidia-ctk --version", "nvidia-container-cli --version"])
    ev = ["nvidia-ctk: not found", "nvidia-container-cli: not found"]
    if facts.gpu.pci_gpus == []:
        return skip(f"NVIDIA Container Toolkit not installed; not needed: no NVIDIA GPU on this machine "
                    f"({' and '.join(engines)} present)", ev)
    if "docker" in engines and c.docker_server_reachable is False:
        ev.append(f"docker: {c.docker_info_error or 'no daemon reachable'}")
        return warn("NVIDIA Container Toolkit not installed; docker here is a client without a reachable daemon, "
                    "so GPU containers depend on the toolkit of the host that runs dockerd", ev,
                    cause="nvidia-ctk and nvidia-container-cli are not on this machine", fix=INSTALL)
    return warn(f"{' and '.join(engines)} installed but the NVIDIA Container Toolkit is not: `--gpus all` will fail", ev,
                cause="nvidia-ctk and nvidia-container-cli are not installed", fix=INSTALL)
