"""Security: the NVIDIA Container Toolkit and the driver against NVIDIA's security bulletins."""

from envdoctor.diagnosis.catalog import check, passed, skip, unknown, warn
from envdoctor.diagnosis.security_bulletins import (Bulletin, driver_findings, installed_driver, toolkit_findings,
                                                    toolkit_versions)
from envdoctor.knowledge import load
from envdoctor.models import Fix
from envdoctor.versions import release


@check("security_nvidia_toolkit", "The NVIDIA Container Toolkit has the fixes of NVIDIA's security bulletins",
       order=930)
def security_nvidia_toolkit(facts):
    """The NVIDIA Container Toolkit's hooks run as root on the host when a GPU container starts; its
    bulletins include container escapes (CVE-2024-0132, fixed in 1.16.2; CVE-2025-23266, fixed in
    1.17.8): a crafted image gets root on the host.

    Verdict: warn when the installed version is at or below a bulletin's last affected version, naming
    each bulletin and the version that fixes it; pass when it is above all of them; skip when the toolkit
    is not installed. Evidence: `nvidia-ctk --version`, `nvidia-container-cli --version`, the runtime hook's
    version, dpkg; the lowest is taken (each component is updated with the others).
    Data: envdoctor/data/nvidia_security_bulletins.yaml (source and date inside)."""
    c = facts.container
    versions = toolkit_versions(facts)
    if not versions:
        if c.toolkit_installed is False:
            return skip("NVIDIA Container Toolkit not installed")
        if c.toolkit_installed is None:
            return unknown("NVIDIA Container Toolkit version not known", missing=["nvidia-ctk --version"])
        return unknown("NVIDIA Container Toolkit installed, version not known", missing=["nvidia-ctk --version"])
    lowest = min(versions.values(), key=lambda v: v[1])[0]
    ev = [f"{name} {v[0]}" for name, v in versions.items()]
    hits = toolkit_findings(lowest)
    data = load("nvidia_security_bulletins")
    if not hits:
        return passed(f"NVIDIA Container Toolkit {lowest}: none of the {len(data['container_toolkit'])} toolkit "
                      f"bulletins read on {data['read']} applies", ev)
    newest_fix = max(hits, key=lambda b: b.fixed_key).fixed
    for b in hits:
        ev.append(f"bulletin {b.id} ({b.title}, {', '.join(b.cves)}): affected up to {b.affected}, fixed in "
                  f"{b.fixed}" + (f"; {b.note}" if b.note else ""))
    return warn(f"NVIDIA Container Toolkit {lowest} is affected by {len(hits)} NVIDIA bulletin(s) "
                f"({', '.join(sorted({cve for b in hits for cve in b.cves}))[:160]}): upgrade to {newest_fix} or later",
                ev, cause="container escapes and hook vulnerabilities fixed in later toolkit releases",
                fix=Fix(summary=f"Upgrade the NVIDIA Container Toolkit from NVIDIA's repository to {newest_fix} or "
                                "later, then restart the container engine.",
                        commands=["sudo apt-get update && sudo apt-get install --only-upgrade nvidia-container-toolkit "
                                  "nvidia-container-toolkit-base libnvidia-container-tools libnvidia-container1",
                                  "sudo dnf upgrade nvidia-container-toolkit   # RHEL/Fedora",
                                  "nvidia-ctk --version", "sudo systemctl restart docker"], manual=True))


@check("security_nvidia_driver", "The NVIDIA driver has its branch's security fixes", order=931)
def security_nvidia_driver(facts):
    """NVIDIA publishes driver security bulletins several times a year, with a fixed version per driver
    branch (R535, R570, R580, ...). A driver can be new enough for the CUDA it serves and still lack its
    branch's security fixes.

    Verdict: warn, naming the bulletins, when the loaded driver is below its branch's fixed version, or
    when its branch is older than a bulletin's newest and got no fix there (NVIDIA: earlier branches
    "might also be affected"); pass when no bulletin read applies; skip without an NVIDIA driver.
    Evidence: /proc/driver/nvidia/version (the loaded module), else nvidia-smi's Driver Version; how many
    bulletins apply and the newest in one line, each of them with -v.
    Data: envdoctor/data/nvidia_security_bulletins.yaml (source and date inside)."""
    version, where = installed_driver(facts)
    g = facts.gpu
    if version is None:
        if g.kernel_module_loaded is False and not g.nvidia_smi_available:
            return skip("no NVIDIA driver loaded")
        return unknown("NVIDIA driver version not known", missing=["/proc/driver/nvidia/version", "nvidia-smi"])
    data = load("nvidia_security_bulletins")
    fixed, unfixed = driver_findings(version)
    ev = [f"driver {version} ({where})"]
    if not fixed and not unfixed:
        return passed(f"driver {version}: none of the {len(data['driver'])} driver bulletins read on {data['read']} "
                      "applies", ev)
    branch = f"R{version.split('.')[0]}"

    def line(b: Bulletin) -> str:
        cves = ", ".join(b.cves[:6]) + (" ..." if len(b.cves) > 6 else "")
        if b.id in fix_of:
            return f"bulletin {b.id} ({b.title}, {b.published}): {branch} fixed in {fix_of[b.id]}; CVEs {cves}"
        return (f"bulletin {b.id} ({b.title}, {b.published}): no {branch} version listed (fixed branches: "
                f"{', '.join(b.branch_names)}); earlier branches might also be affected")

    fix_of = {b.id: v for b, v in fixed}
    applying = sorted([b for b, _ in fixed] + unfixed, key=lambda b: b.published, reverse=True)
    # one line for the count and the newest; the whole list only with -v (an old driver meets a dozen or more)
    n = len(applying)
    ev.append(f"{n} of the {len(data['driver'])} driver bulletins read on {data['read']} appl{'ies' if n == 1 else 'y'}; "
              f"the newest: {line(applying[0])}" + (" (-v lists them all)" if n > 1 else ""))
    supported = unfixed[0].branch_names if unfixed else []
    if fixed:
        target = max((v for _, v in fixed), key=release)
        summary = (f"driver {version} is below {branch}'s fixed version {target} of NVIDIA bulletin "
                   f"{fixed[0][0].id} ({fixed[0][0].title})" +
                   (f" and {len(applying) - 1} more" if len(applying) > 1 else ""))
        todo = f"Install the {branch} driver {target} or later (or a newer branch) and reboot."
        if unfixed:  # the branch's last fix still lacks the newer bulletins' fixes
            summary = (f"driver {version} is below {branch}'s fixed version {target} of NVIDIA bulletin "
                       f"{fixed[0][0].id} ({fixed[0][0].title}), and {branch} got no fix in {len(unfixed)} newer "
                       f"bulletin(s); supported branches: {', '.join(supported)}")
            todo = (f"Move to a branch NVIDIA still fixes ({_either(supported)}) and reboot: {branch} got no fix in "
                    f"{len(unfixed)} newer bulletin(s), so even {target} lacks their fixes.")
    else:
        newest = unfixed[0]
        summary = (f"driver {version}: branch {branch} got no fix in NVIDIA bulletin {newest.id} ({newest.title})"
                   + (f" and {len(unfixed) - 1} earlier one(s)" if len(unfixed) > 1 else "") +
                   f"; supported branches: {', '.join(supported)}")
        todo = f"Move to a branch the bulletins still fix ({_either(supported)}) and reboot."
    out = warn(summary, ev, cause="security fixes published after this driver was installed",
                fix=Fix(summary=todo + " Check that its CUDA version still serves your toolkits (driver_cuda_compat).",
                        commands=["apt list --upgradable 2>/dev/null | grep -i nvidia",
                                  "sudo apt-get install --only-upgrade 'nvidia-driver-*'   # or your distribution's "
                                  "driver packages; NVIDIA's .run installer: the same branch's newest release",
                                  "sudo reboot"], manual=True))
    out.details = [line(b) for b in applying] if n > 1 else []
    return out


def _either(branches: list[str]) -> str:
    """["R595", "R580", "R535"] -> "R595, R580 or R535"."""
    return " or ".join(filter(None, [", ".join(branches[:-1]), branches[-1]])) if branches else "a newer branch"
