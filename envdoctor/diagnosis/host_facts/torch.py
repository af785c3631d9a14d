"""Build TorchFacts and CudaEnvFacts from a bundle (pure).

The probe's `torch` section is first-hand evidence; otherwise a collect_env block found in a section
or paste fills what it can. Error messages recognised anywhere (torch's stderr, pastes) are added to
both, and "found version N" gives the driver's CUDA version even without nvidia-smi."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.facts.torch import CudaEnvFacts, TorchFacts
from envdoctor.parsers.collect_env import find_collect_env, find_issue_template
from envdoctor.parsers.cuda_env import (compat_dirs, parse_cuda_driver_api, parse_cuda_toolkits, parse_environment,
                                        parse_ldconfig, parse_nvcc_version, parse_tools, parse_torch_json,
                                        split_path_list, torch_fields_from_json)
from envdoctor.parsers.python_session import session_values
from envdoctor.parsers.torch_errors import driver_cuda_from_errors, scan_torch_errors

_INTERESTING_WARNING = ("CUDA", "cuda", "NVIDIA", "sm_", "GPU")


def build_torch_facts(bundle: Bundle) -> TorchFacts:
    fields: dict = {}
    sec = bundle.get("torch")
    texts: list[str] = []
    if sec is not None and sec.error is None:
        doc = parse_torch_json(sec.stdout)
        if doc is not None:
            fields.update({k: v for k, v in torch_fields_from_json(doc).items() if v is not None or k == "cuda_build"})
        else:
            fields["inspect_error"] = (sec.stderr.strip() or sec.stdout.strip() or f"exit {sec.rc}")[-500:]
        texts.append(sec.stderr)
    elif sec is not None:
        # The probe ran torch's inspection but it did not finish (timeout: e.g. a hung CUDA init).
        fields["inspect_error"] = f"{sec.error}: {(sec.stderr or '').strip()[-300:]}".strip()
        texts.append(sec.stderr)

    api = bundle.get("cuda_driver_api")
    if api is not None and api.error is None:
        fields.update(parse_cuda_driver_api(api.stdout))
        texts.append(api.stdout)  # cuInit's error string names 802/804 in torch's own words

    env_sec = bundle.get("environment")
    if env_sec is not None and env_sec.error is None and (env := parse_environment(env_sec.stdout)):
        fields.setdefault("python_executable", env.get("__python__"))
        fields.setdefault("python_version", env.get("__python_version__"))

    ce = None
    for t in bundle.texts("collect_env"):
        ce = find_collect_env(t)
        if ce is not None:
            break
    if ce is None:
        ce = next((x for x in map(find_issue_template, bundle.pastes) if x is not None), None)
    if ce is not None:
        fields["collect_env_driver"] = ce.driver_version
        fields["collect_env_gpus"] = ce.gpus
        fields["collect_env_cuda_runtime"] = ce.cuda_runtime
        fields["collect_env_os"] = ce.value("OS")
        if fields.get("source") != "probe":
            _from_collect_env(fields, ce)

    texts += list(bundle.pastes)
    if fields.get("source") != "probe":
        for text in bundle.pastes:  # a pasted `>>> torch.cuda.is_available()` is torch's own answer
            for k, v in session_values(text).items():
                if fields.get(k) is None:
                    fields[k] = v
                    fields["installed"] = True
                    fields.setdefault("source", "python session")
    errors = []
    for t in texts:
        for e in scan_torch_errors(t or ""):
            if all((e.kind, e.line) != (x.kind, x.line) for x in errors):
                errors.append(e)
    for w in fields.get("warnings", []):
        for e in scan_torch_errors(w):
            if all((e.kind, e.line) != (x.kind, x.line) for x in errors):
                errors.append(e)
    fields["errors"] = errors
    fields["errors_seen"] = [e.line for e in errors]
    if fields.get("driver_cuda_found") is None:
        fields["driver_cuda_found"] = driver_cuda_from_errors(errors) or fields.get("driver_api_version")
    if fields.get("source") != "probe" and errors:
        # A pasted message can settle what an absent probe could not.
        if any(e.kind == "torch_not_importable" for e in errors) and "installed" not in fields:
            fields["installed"] = False
        # Only torch's own messages prove torch ran (deviceQuery also says the driver is insufficient):
        # torch's carry the driver's "found version", a GPU's capability, or cudaGetDeviceCount's code.
        if any(e.found_version or e.capability or e.kind == "torch_not_compiled_with_cuda"
               or (e.code is not None and "cudaGetDeviceCount()" in e.line) for e in errors):
            fields.setdefault("installed", True)
        if fields.get("arch_list") is None:
            for e in errors:
                if e.supported_arches:
                    fields["arch_list"] = e.supported_arches
                    break
    fields["cpu_only_build"] = _cpu_only(fields, ce, errors)
    return TorchFacts(**fields)


def _cpu_only(fields: dict, ce, errors) -> bool | None:
    if any(e.kind == "torch_not_compiled_with_cuda" for e in errors):
        return True
    if (fields.get("version") or "").endswith("+cpu"):
        return True
    if fields.get("source") == "probe" and fields.get("installed"):
        return fields.get("cuda_build") is None and fields.get("hip_build") is None
    if fields.get("source") == "collect_env" and ce is not None:
        return ce.cpu_only_build
    return None


def _from_collect_env(fields: dict, ce) -> None:
    fields["source"] = "collect_env"
    v = ce.torch_version
    if v:
        fields["installed"] = True
        fields["version"] = v
    fields["cuda_build"] = ce.cuda_build
    if ce.is_available is not None:
        fields["is_available"] = ce.is_available
    fields["warnings"] = [w for w in ce.warnings if any(k in w for k in _INTERESTING_WARNING)]
    if tv := ce.packages.get("torchvision"):
        fields["torchvision"] = tv
    py = ce.value("Python version")
    if py and not fields.get("python_version"):
        fields["python_version"] = py.split()[0]


def build_cuda_env_facts(bundle: Bundle) -> CudaEnvFacts:
    f: dict = {}
    env_sec = bundle.get("environment")
    env = parse_environment(env_sec.stdout) if env_sec is not None and env_sec.error is None else None
    if env is not None:
        f["cuda_visible_devices_set"] = "CUDA_VISIBLE_DEVICES" in env
        f["cuda_visible_devices"] = env.get("CUDA_VISIBLE_DEVICES")
        f["nvidia_visible_devices"] = env.get("NVIDIA_VISIBLE_DEVICES")
        f["cuda_home"] = env.get("CUDA_HOME") or env.get("CUDA_PATH")
        f["path"] = split_path_list(env.get("PATH"))
        f["ld_library_path"] = split_path_list(env.get("LD_LIBRARY_PATH", ""))
    tk = bundle.get("cuda_toolkits")
    if tk is not None and tk.error is None:
        toolkits = parse_cuda_toolkits(tk.stdout)
        f["toolkits"] = toolkits
        for t in toolkits:
            if t.path.rstrip("/") == "/usr/local/cuda":
                f["usr_local_cuda_target"] = t.link_target if t.is_link else t.path
    nv = bundle.get("nvcc_version")
    if nv is not None:
        if nv.error is None:
            f["nvcc_version"], f["nvcc_release_line"] = parse_nvcc_version(nv.stdout)
    if f.get("nvcc_version") is None:
        for text in bundle.pastes:  # a pasted `nvcc --version`
            if "Cuda compilation tools" in text:
                f["nvcc_version"], f["nvcc_release_line"] = parse_nvcc_version(text)
                break
    tools = bundle.get("tools")
    if tools is not None and tools.error is None:
        path = parse_tools(tools.stdout).get("nvcc")
        if path is not None:
            f["nvcc_path"] = path  # "" = looked for and not on PATH
    ld = bundle.get("ldconfig_cuda")
    if ld is not None and ld.error is None:
        f["libcuda_paths"] = parse_ldconfig(ld.stdout, "libcuda.so")
        f["libcudart_paths"] = parse_ldconfig(ld.stdout, "libcudart.so")
    if env is not None or "libcuda_paths" in f:
        f["compat_lib_dirs"] = compat_dirs(f.get("ld_library_path"), f.get("libcuda_paths"))
    return CudaEnvFacts(**f)
