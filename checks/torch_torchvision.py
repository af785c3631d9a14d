"""Check: torchvision is the release paired with the installed torch."""

from envdoctor.diagnosis.catalog import check, from_cause, passed, skip, unknown
from envdoctor.diagnosis.cuda_compat import torchvision_for
from envdoctor.diagnosis.torch_evidence import python_cmd
from envdoctor.knowledge import load, wheel_index
from envdoctor.models import Status
from envdoctor.versions import release


def _local(v: str | None) -> str | None:
    return v.split("+", 1)[1] if v and "+" in v else None


@check("torchvision_match", "torchvision matches torch", order=460)
def torchvision_match(facts):
    """torchvision's compiled operators (nms, roi_align, image decoding) are built against one torch
    release: torch 2.5 pairs with torchvision 0.20, 2.9 with 0.24 (the table in torchvision's README).
    A mismatch fails at import ("operator torchvision::nms does not exist") or later. Both must also
    come from the same CUDA variant (+cu121 with +cu121; a +cpu torchvision on a CUDA torch)."""
    t = facts.torch
    if t.installed is False:
        return skip("torch is not installed")
    if t.torchvision_error:
        return from_cause(Status.FAIL, "torchvision does not import", "torchvision_mismatch", [t.torchvision_error],
                          commands=_commands(facts))
    if t.torchvision is None:
        if t.source == "probe":
            return skip("torchvision is not installed")
        return unknown("torchvision's version is not known", missing=["torchvision version"])
    if not t.version:
        return unknown("torch's version is not known", missing=["torch version"])
    want = torchvision_for(t.version)
    ev = [f"torch {t.version}", f"torchvision {t.torchvision}"]
    if want is None:
        return unknown(f"no known torchvision pairing for torch {t.version}", evidence=ev)
    have = release(t.torchvision)
    if not have:
        return unknown(f"torchvision version {t.torchvision!r} is not readable", evidence=ev)
    if have < release(load("torch_releases")["torchvision_compiled_since"]):
        return passed(f"torchvision {t.torchvision} is pure Python (no compiled operators): bound to no torch release",
                      evidence=ev)
    if have[:2] != release(want)[:2]:
        return from_cause(Status.FAIL, f"torchvision {t.torchvision} does not pair with torch {t.version} (expects "
                          f"{want}.x)", "torchvision_mismatch", ev, detail="installed from different releases",
                          commands=_commands(facts, want))
    lt, lv = _local(t.version), _local(t.torchvision)
    if lt and lv and lt != lv:
        return from_cause(Status.FAIL, f"torch is +{lt} but torchvision is +{lv}", "torchvision_mismatch", ev,
                          detail="from different CUDA variants", commands=_commands(facts, want))
    return passed(f"torchvision {t.torchvision} pairs with torch {t.version}", evidence=ev)


def _commands(facts, want: str | None = None) -> list[str]:
    """This interpreter's reinstall of the torchvision paired with its torch, from torch's own index."""
    t = facts.torch
    spec = f"torchvision=={want}.*" if want else "torchvision"
    tag = _local(t.version)
    idx = f" --index-url {wheel_index(tag)}" if tag and (tag.startswith("cu") or tag == "cpu") else ""
    return [f"{python_cmd(facts)} -m pip install --force-reinstall --no-deps '{spec}'{idx}"]
