"""Check: the CUDA toolkits, CUDA_HOME, nvcc, LD_LIBRARY_PATH and the driver agree."""

import re
import shlex

from envdoctor.diagnosis.catalog import check, from_cause, passed, unknown
from envdoctor.diagnosis.cuda_compat import forward_compat_supported, minor_compat_floor
from envdoctor.diagnosis.torch_evidence import driver_view, gpus_seen
from envdoctor.models import Status
from envdoctor.versions import release

_CUDA_DIR = re.compile(r"(/(?:usr/local|opt)/cuda(?:-(\d+\.\d+))?)(?:/|$)")


def _version_of(path: str | None, toolkits) -> str | None:
    """The toolkit version of a path under /usr/local/cuda*, resolving the /usr/local/cuda link."""
    if not path:
        return None
    m = _CUDA_DIR.match(path)
    if not m:
        return None
    root = m.group(1)
    for t in toolkits:
        if t.path.rstrip("/") == root:
            if t.version:
                return t.version
            if t.is_link and t.link_target:
                return _version_of(t.link_target, toolkits)
    return m.group(2)


@check("cuda_toolkits", "CUDA toolkits, CUDA_HOME, nvcc and LD_LIBRARY_PATH agree", order=470, playbook="cuda-switch.yml")
def cuda_toolkits(facts):
    """torch wheels bring their own CUDA runtime; a local toolkit matters when building extensions
    (nvcc, CUDA_HOME) and when its libraries are put on LD_LIBRARY_PATH. With several toolkits in
    /usr/local/cuda-*, the /usr/local/cuda link, CUDA_HOME, the nvcc found on PATH and the CUDA
    directories on LD_LIBRARY_PATH must name the same version, not newer than the driver runs.
    A `compat` directory (cuda-compat, forward compatibility) on LD_LIBRARY_PATH is only for older
    drivers on data-center GPUs; elsewhere it breaks CUDA (error 804) or shadows a newer driver."""
    ce = facts.cuda_env
    if ce.toolkits is None:
        return unknown("the CUDA toolkits were not listed", missing=["ls /usr/local/cuda*"])
    toolkits = ce.toolkits
    real = [t for t in toolkits if not t.is_link]
    ev = [f"{t.path}: " + (f"-> {t.link_target}" if t.is_link else f"CUDA {t.version or '?'}") for t in toolkits]
    if ce.cuda_home:
        ev.append(f"CUDA_HOME={ce.cuda_home}")
    if ce.nvcc_path:
        ev.append(f"nvcc on PATH: {ce.nvcc_path}" + (f" ({ce.nvcc_release_line})" if ce.nvcc_release_line else ""))
    cuda_ld = [d for d in ce.ld_library_path or [] if _CUDA_DIR.match(d)]
    if cuda_ld:
        ev.append("LD_LIBRARY_PATH CUDA dirs: " + ":".join(cuda_ld))
    problems: list[str] = []
    fatal: list[tuple[str, str]] = []  # (what is wrong, its cause id)

    # Which version each place names.
    named = {}
    if ce.usr_local_cuda_target:
        v = _version_of(ce.usr_local_cuda_target, toolkits)
        if not any(t.path.rstrip("/") == ce.usr_local_cuda_target.rstrip("/") for t in real) and \
                ce.usr_local_cuda_target.rstrip("/") != "/usr/local/cuda":
            problems.append(f"/usr/local/cuda points to {ce.usr_local_cuda_target}, which is not an installed toolkit")
        if v:
            named["/usr/local/cuda"] = v
    if ce.cuda_home:
        v = _version_of(ce.cuda_home, toolkits)
        if v:
            named["CUDA_HOME"] = v
    if ce.nvcc_version:
        named["nvcc"] = ce.nvcc_version
    for d in cuda_ld:
        if "/compat" in d:
            continue
        v = _version_of(d, toolkits)
        if v:
            named.setdefault("LD_LIBRARY_PATH", v)
            if release(v) != release(named["LD_LIBRARY_PATH"]):
                problems.append(f"LD_LIBRARY_PATH holds two CUDA versions ({named['LD_LIBRARY_PATH']} and {v})")
    versions = {k: release(v)[:2] for k, v in named.items() if release(v)}
    if len(set(versions.values())) > 1:
        problems.append("different CUDA versions: " + ", ".join(f"{k} {named[k]}" for k in named))

    # Newer than the driver runs?
    d = driver_view(facts)
    top = max(versions.values(), default=None)
    compat_v = [release(_version_of(c, toolkits) or "")[:2] for c in ce.compat_lib_dirs or []]
    if d.cuda and top and top > release(d.cuda)[:2] and not any(cv and cv >= top for cv in compat_v):
        floor = minor_compat_floor(".".join(map(str, top)))
        if top[0] == release(d.cuda)[0] and floor:
            problems.append(f"toolkit CUDA {top[0]}.{top[1]} is newer than the driver's CUDA {d.cuda}: binaries built "
                            "with it run by minor-version compatibility, PTX from it does not JIT")
        else:
            fatal.append((f"toolkit CUDA {top[0]}.{top[1]} is newer than the driver runs (CUDA {d.cuda}): programs "
                          "built with it fail with CUDA error 35", "toolkit_newer_than_driver"))

    # Stray forward-compatibility libraries.
    for cdir in ce.compat_lib_dirs or []:
        names = [g.name for g in gpus_seen(facts) or [] if g.name]
        consumer = [n for n in names if forward_compat_supported(n) is False]
        cv = _version_of(cdir, toolkits)
        if consumer:
            fatal.append((f"{cdir} (cuda-compat) is in use on {consumer[0]}: forward compatibility is not supported "
                          "there (CUDA error 804)", "forward_compat_unsupported"))
        elif d.cuda and cv and release(d.cuda)[:2] >= release(cv)[:2]:
            problems.append(f"{cdir} (cuda-compat {cv}) is not needed: the driver already runs CUDA {d.cuda}, and an "
                            "older compat libcuda shadows it")
        elif d.cuda is None:
            problems.append(f"{cdir} (cuda-compat) is on the library path; the driver's CUDA is not known to judge it")

    # Same rule as cuda-switch.yml: the newest toolkit the driver runs natively.
    fits = [t for t in real if t.version and (d.cuda is None or release(t.version)[:2] <= release(d.cuda)[:2])]
    if not fits and d.cuda:  # else one the driver runs by minor-version compatibility
        fits = [t for t in real if t.version and release(t.version)[0] == release(d.cuda)[0] and d.version
                and release(d.version) >= release(minor_compat_floor(t.version) or "999")]
    target = max(fits, key=lambda t: release(t.version)).path if fits else "/usr/local/cuda-X.Y"
    commands = [f"sudo ln -sfn {shlex.quote(target)} /usr/local/cuda",
                "export CUDA_HOME=/usr/local/cuda PATH=/usr/local/cuda/bin:$PATH"]
    if fatal:
        (what, cause), more = fatal[0], [w for w, _ in fatal[1:]]
        return from_cause(Status.FAIL, what, cause, ev + more + problems,
                          commands=commands if cause == "toolkit_newer_than_driver" else None)
    if problems:
        return from_cause(Status.WARN, problems[0], "cuda_toolkit_mixed", ev + problems[1:],
                          detail=f"the toolkit the driver runs here: {target}", commands=commands)
    if not real and not ce.nvcc_path:
        return passed("no local CUDA toolkit (torch wheels bring their own CUDA runtime)", evidence=ev)
    summary = f"{len(real)} toolkit(s)" + (f", CUDA {sorted(set(named.values()))[0]} everywhere" if named else "")
    notes = []
    if not ce.cuda_home and real:
        notes.append("CUDA_HOME is not set (builds fall back to /usr/local/cuda or the nvcc on PATH)")
    if d.cuda is None:
        notes.append("driver's CUDA not known: toolkit not compared with it")
    return passed(summary, evidence=ev + notes)
