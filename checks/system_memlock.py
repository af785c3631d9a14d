"""Locked-memory limit (ulimit -l) for NCCL over InfiniBand/RoCE (GPUDirect RDMA)."""

from envdoctor.diagnosis.catalog import check, from_cause, passed, unknown
from envdoctor.knowledge import load
from envdoctor.models import Status


def _fmt(n: int | None) -> str:
    if n is None:
        return "unknown"
    if n < 0:
        return "unlimited"
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GiB"
    return f"{n // 1024**2} MiB" if n >= 1024**2 and n % 1024**2 == 0 else f"{n // 1024} KiB"


def _commands(in_container: bool | None) -> list[str]:
    """This host's commands: limits.conf for logins, LimitMEMLOCK for docker's service, --ulimit in containers."""
    cmds = ["printf '* soft memlock unlimited\\n* hard memlock unlimited\\n' | "
            "sudo tee /etc/security/limits.d/99-memlock.conf   # then log in again",
            "sudo mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nLimitMEMLOCK=infinity\\n' | "
            "sudo tee /etc/systemd/system/docker.service.d/memlock.conf && sudo systemctl daemon-reload && sudo systemctl restart docker",
            "ulimit -l; ulimit -Hl   # both should print: unlimited"]
    if in_container is not False:
        cmds.insert(0, "docker run --ulimit memlock=-1:-1 ...")
    return cmds


@check("memlock_limit", "Locked-memory limit allows RDMA (NCCL over InfiniBand/RoCE)", order=740,
       playbook="memlock.yml")
def memlock_limit(facts):
    """RDMA (InfiniBand, RoCE, GPUDirect RDMA) pins the buffers it sends from, which counts against the
    locked-memory limit (RLIMIT_MEMLOCK, `ulimit -l`). NCCL, UCX and MPI over verbs need it unlimited;
    with the common defaults (64 KiB before Linux 5.16, 8 MiB since) verbs calls fail with
    "ibv_create_qp failed" / "ibv_create_cq ... Cannot allocate memory" and NCCL reports
    "unhandled system error". Both the soft limit (what a process gets) and the hard limit (how far it
    may raise it) matter.

    Verdict: pass when soft and hard are unlimited, or when a limit is low but the host has no RDMA device
    (/sys/class/infiniband empty: NCCL goes over sockets, which lock no memory), saying so; warn when either
    is limited and RDMA devices exist or are not known (harmless without RDMA networking, fatal with it);
    fail when a verbs/NCCL error of that kind was pasted.
    Evidence: /proc/self/limits of the probe, or pasted `ulimit -a` / `-Ha` / `-l` (KiB).
    Fix: limits.conf / systemd LimitMEMLOCK=infinity, and `docker run --ulimit memlock=-1` in containers."""
    s = facts.system
    soft, hard = s.memlock_soft_bytes, s.memlock_hard_bytes
    # the knowledge base recognises the verbs failures (signature memlock_rdma_error); the check reports them
    errors = list(dict.fromkeys(x.line for x in facts.diagnosis.signatures if x.id == "memlock_rdma_error"))
    known = soft is not None or hard is not None
    ev = list(s.memlock_evidence)
    limits_txt = f"soft {_fmt(soft)}, hard {_fmt(hard)}" + (f" from {s.memlock_source}" if s.memlock_source else "")
    if errors and not (soft == -1 and hard == -1):
        return from_cause(Status.FAIL, f"RDMA verbs failed ({errors[0][:80]}); memlock {limits_txt}", "memlock_too_low",
                          errors[:3] + ev, commands=_commands(s.in_container),
                          detail=None if known and (soft != -1 or hard != -1) else
                          "the limit itself was not in the evidence: run `ulimit -l`")
    if not known:
        return unknown("locked-memory limit not known", missing=["/proc/self/limits or `ulimit -l`"])
    if soft == -1 and hard == -1:
        return passed(f"locked memory is unlimited ({limits_txt})", ev)
    defaults = load("container_limits")["memlock_defaults_bytes"]
    limited = [v for v in (soft, hard) if v is not None and v >= 0]
    if not limited:  # only one side known, and it is unlimited
        side = "hard" if soft is None else "soft"
        return unknown(f"{side} memlock limit is unlimited; the other one was not in the evidence",
                       missing=["ulimit -Hl and ulimit -Sl"], evidence=ev)
    note = "; ".join(sorted({defaults[v] for v in limited if v in defaults}))
    if facts.diagnosis.rdma_devices == []:  # looked, and nothing would pin memory for a NIC
        return passed(f"locked memory is limited ({limits_txt}), which is fine here: no RDMA (InfiniBand/RoCE) "
                      "device, so NCCL uses sockets, which need no locked memory",
                      ev + ["/sys/class/infiniband: no devices"])
    return from_cause(Status.WARN, f"locked memory is limited ({limits_txt}): NCCL/RDMA over InfiniBand or RoCE needs "
                      "unlimited", "memlock_too_low", ev, detail=note or None, commands=_commands(s.in_container))
