"""One host from evidence to report: bundle -> facts -> checks -> HostReport. Pure but for `gather`."""

from __future__ import annotations

import time

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.catalog import Check, run_checks
from envdoctor.diagnosis.conclusion import conclude
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import HostFacts
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport import TransportError, transport_for
from envdoctor.knowledge import signatures
from envdoctor.models import Headline, HostReport, HostStatus


def headline(facts: HostFacts) -> Headline:
    """The few facts a fleet table shows per host."""
    gpus = facts.gpu.gpus or []
    names = sorted({g.name for g in gpus if g.name})
    return Headline(
        gpu=", ".join(names) if names else None,
        gpu_count=len(gpus) if facts.gpu.gpus is not None else None,
        driver=facts.gpu.nvml_version or facts.gpu.kernel_module_version,
        cuda_driver=facts.gpu.cuda_driver_version,
        torch=facts.torch.version,
        torch_cuda=facts.torch.cuda_build,
        nccl=facts.torch.nccl,
        container_toolkit=facts.container.nvidia_ctk_version or facts.container.nvidia_container_cli_version,
    )


READS = ("nvidia-smi (table, -q, -q -x, --query-gpu CSV, -L), collect_env, kernel log lines (NVRM/Xid), torch/CUDA/NCCL/"
         "docker/nvidia-container-cli error messages, /proc/driver/nvidia/version, lspci, lsmod, modinfo, mokutil, "
         "dkms status, ulimit, df /dev/shm, docker info, daemon.json, nvcc --version, ldd, pip/conda lists, "
         "LD_LIBRARY_PATH, docker run lines, compose files, pod specs")


def report_from_bundle(bundle: Bundle, checks: list[Check], debug: bool = False) -> tuple[HostReport, HostFacts]:
    facts = facts_from_bundle(bundle)
    c = conclude(facts, run_checks(facts, checks, debug))
    report = HostReport(host=bundle.host, root_cause=c.root, status=c.status, headline=headline(facts),
                        checks=c.checks, notes=list(bundle.notes), redacted=bundle.redacted, bottom_line=c.bottom_line)
    if bundle.pastes and not bundle.sections:
        kb = signatures()
        # a context signature (a container prompt, "SecureBoot enabled") is not a failure message
        known = [s for s in facts.diagnosis.signatures if not kb.signature(s.id).unrecognised]
        # an error nothing knows is worth naming only when it is the only message
        shown = known if any(not kb.signature(s.id).info for s in known) else facts.diagnosis.signatures
        report.recognised = facts.diagnosis.recognised + [
            f"{'context' if kb.signature(s.id).info else 'message'}: {s.id}" for s in shown]
        if not report.recognised:
            # evaluated: nothing. Say what envdoctor reads instead of a page of "unknown".
            report.status = HostStatus.ERROR
            report.error = f"nothing envdoctor reads was recognised in this text; it reads: {READS}"
    return report, facts


def diagnose_target(target: Target, checks: list[Check], python: str | None = None, debug: bool = False,
                    timeout: float | None = None, no_torch: bool = False,
                    **ssh_options) -> tuple[HostReport, HostFacts | None, Bundle | None]:
    """Gather from a target and check it. A host that cannot be reached is a HostReport with its status."""
    t0 = time.monotonic()
    interp = target.interpreter(python)
    try:
        with transport_for(target, **ssh_options) as tr:
            bundle = gather(tr, python=interp, host=target.name, argv=target.interpreter_argv(python),
                            no_torch=no_torch, **({"timeout": timeout} if timeout else {}))
    except TransportError as e:
        return HostReport(host=target.name, local=target.local, status=e.status, error=e.message,
                          gather_secs=round(time.monotonic() - t0, 3)), None, None
    report, facts = report_from_bundle(bundle, checks, debug)
    report.local = target.local
    report.gather_secs = round(time.monotonic() - t0, 3)
    return report, facts, bundle


__all__ = ["diagnose_target", "report_from_bundle", "headline", "HostStatus"]
