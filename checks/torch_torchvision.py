"""Check: torchvision is the release paired with the installed torch."""

from envdoctor.catalog import check, fail, passed, skip, unknown
from envdoctor.cuda_compat import torchvision_for, vtuple, wheel_index
from envdoctor.models import Fix
from envdoctor.torch_evidence import python_cmd


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
        return fail("torchvision does not import", evidence=[t.torchvision_error],
                    cause="torchvision is broken or built for another torch",
                    fix=_fix(facts))
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
    have = vtuple(t.torchvision)
    if not have:
        return unknown(f"torchvision version {t.torchvision!r} is not readable", evidence=ev)
    if have[:2] != vtuple(want)[:2]:
        return fail(f"torchvision {t.torchvision} does not pair with torch {t.version} (expects {want}.x)",
                    evidence=ev, cause="torch and torchvision were installed from different releases",
                    fix=_fix(facts, want))
    lt, lv = _local(t.version), _local(t.torchvision)
    if lt and lv and lt != lv:
        return fail(f"torch is +{lt} but torchvision is +{lv}", evidence=ev,
                    cause="torch and torchvision come from different CUDA variants", fix=_fix(facts, want))
    return passed(f"torchvision {t.torchvision} pairs with torch {t.version}", evidence=ev)


def _fix(facts, want: str | None = None) -> Fix:
    t = facts.torch
    spec = f"torchvision=={want}.*" if want else "torchvision"
    tag = _local(t.version)
    idx = f" --index-url {wheel_index(tag)}" if tag and (tag.startswith("cu") or tag == "cpu") else ""
    return Fix(summary="Reinstall torchvision from the same index and release line as torch",
               commands=[f"{python_cmd(facts)} -m pip install --force-reinstall --no-deps '{spec}'{idx}"], manual=True)
