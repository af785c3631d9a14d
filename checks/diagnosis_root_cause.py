"""The root cause: failure signatures seen plus the facts, reasoned over the knowledge base."""

from envdoctor.diagnosis.catalog import Outcome, check
from envdoctor.diagnosis.conclusion import root_cause_of, root_cause_result


@check("root_cause", "Root cause", order=5)
def root_cause(facts):
    """Reads every failure message envdoctor knows (the signature knowledge base in
    envdoctor/data/signatures/: kernel, NVML, CUDA runtime, torch, NCCL, docker, nvidia-container-cli),
    the facts around them and the checks that failed, and names the most likely root cause first, then
    the alternatives still open and the commands that tell them apart (for example `mokutil --sb-state`,
    or `ls /lib/modules/$(uname -r)/updates/dkms`). Each signature lists candidate causes with the
    evidence that confirms or rules each out; evidence that was not collected stays open, never counts
    as a pass. What was observed (lspci, /proc, a CUDA call) outranks what a table implies, which
    outranks a hint; a cause that keeps CUDA from working is only a note where CUDA is seen working.

    Verdict: fail when the cause is established (observed, or a specific message with no rival close
    to it); warn when it is the most likely but not confirmed, or when a failure is recognised but its
    cause is not determined (the candidates and what tells them apart are listed); pass when the
    evidence holds recognised outputs and no failure; unknown when nothing in the evidence was
    recognised. The report's verdict (its last line) is derived from this line and the checks."""
    root, d = root_cause_of(facts)
    r = root_cause_result(root, d, "Root cause")
    out = Outcome(r.status, r.summary, r.evidence, r.cause, r.fix)
    out.cause_id = r.cause_id
    return out
