"""The root cause: failure signatures seen plus the facts, reasoned over the knowledge base."""

from envdoctor.catalog import Outcome, check, fail, passed, unknown, warn
from envdoctor.knowledge import signatures
from envdoctor.models import Fix
from envdoctor.root_cause import diagnose

STRONG = 8.0  # below this score a cause is named as possible (warn), not established (fail)


@check("root_cause", "Most likely root cause", order=5)
def root_cause(facts):
    """Reads every failure message envdoctor knows (the signature knowledge base in
    envdoctor/data/signatures/: kernel, NVML, CUDA runtime, torch, NCCL, docker, nvidia-container-cli)
    and the facts around them, and names the most likely root cause first, then the alternatives still
    open and the commands that tell them apart (for example `mokutil --sb-state`, or
    `ls /lib/modules/$(uname -r)/updates/dkms`). Each signature lists candidate causes with the evidence
    that confirms or rules each out; evidence that was not collected stays open, never counts as a pass.

    Verdict: fail when a failure signature points at a cause with confirming evidence or a strong
    message; warn when only a weak candidate remains; pass when the evidence holds recognised outputs
    and no failure signature; unknown when nothing in the evidence was recognised."""
    d = diagnose(facts)
    kb = signatures()
    p = d.primary
    if p is None:
        if facts.diagnosis.recognised == [] and "paste" in facts.sources and len(facts.sources) == 1:
            return unknown("nothing in the paste was recognised")
        msg = "no known failure message or fault in the evidence"
        return passed(msg, evidence=[f"ruled out: {c.cause} ({c.ruled_out[0]})" for c in d.ruled_out][:3])
    spec = kb.causes[p.cause]
    ev = [f"seen: {line}" for line in p.signatures[:3]] + [f"confirms: {c}" for c in p.confirmed[:4]]
    alts = [c for c in d.ranked[1:4] if c.score >= 3]
    for a in alts:
        ev.append(f"also possible: {a.cause} - {kb.causes[a.cause].title}"
                  + (f" (confirmed by: {a.confirmed[0]})" if a.confirmed else ""))
    for c in d.ruled_out[:2]:
        ev.append(f"ruled out: {c.cause} ({c.ruled_out[0]})")
    tell: list[str] = []
    for c in [p] + alts:
        for name in c.open:
            ask = kb.evidence[name].ask
            if ask not in tell:
                tell.append(ask)
    if alts:
        for a in alts:
            for t in kb.causes[a.cause].tell[:1]:
                if t not in tell:
                    tell.append(t)
    commands = list(spec.fix.commands)
    if tell:
        commands += [f"to tell the causes apart: {t}" for t in tell[:5]]
    fix = Fix(summary=spec.fix.summary, commands=commands, playbook=spec.fix.playbook, manual=spec.fix.playbook is None)
    summary = f"{p.cause}: {spec.title}"
    make = fail if p.score >= STRONG else warn
    out: Outcome = make(summary, evidence=ev, cause=spec.title, fix=fix)
    out.cause_id = p.cause
    return out
