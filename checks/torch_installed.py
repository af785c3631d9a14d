"""Check: torch imports in the diagnosed interpreter."""

from envdoctor.diagnosis.catalog import cause_among, check, from_cause, passed, unknown
from envdoctor.diagnosis.torch_evidence import python_cmd, wheel_suggestion
from envdoctor.models import Status


@check("torch_installed", "PyTorch is importable", order=400)
def torch_installed(facts):
    """Imports torch in the interpreter envdoctor diagnoses (this one, or `--python PATH`), in its own
    process with a timeout: a broken CUDA install can hang or crash the import. A failed import is
    reported with its error; a pasted collect_env or torch message shows torch was installed there."""
    t = facts.torch
    where = t.python_executable or "the diagnosed interpreter"
    if t.inspect_error:
        return from_cause(Status.FAIL, "importing torch did not complete", "torch_import_hangs",
                          [f"{where}: {t.inspect_error}"],
                          commands=[f"{python_cmd(facts)} -X faulthandler -c 'import torch'", "nvidia-smi",
                                    "echo $LD_LIBRARY_PATH"])
    if t.installed is None:
        return unknown("whether torch is installed is not known", missing=["torch import (probe section 'torch')"])
    if t.installed is False:
        sugg = wheel_suggestion(facts)
        cmd = sugg[1] if sugg else f"{python_cmd(facts)} -m pip install torch torchvision"
        # two interpreters mixed (a notebook kernel, a user-site copy) is the knowledge base's more specific cause
        cause = cause_among(facts, ("multiple_pythons",)) or "torch_not_installed"
        return from_cause(Status.FAIL, f"torch does not import in {where}", cause,
                          [t.import_error or "import torch failed"] + [e for e in t.errors_seen if "torch" in e][:2],
                          commands=[cmd] if cause == "torch_not_installed" else None)
    ev = [f"torch {t.version}" + (f" at {t.file}" if t.file else "")] if t.version else \
        [f"torch printed: {t.errors_seen[0]}"] if t.errors_seen else []
    if t.python_executable:
        ev.append(f"python {t.python_version or '?'}: {t.python_executable}")
    src = "" if t.source == "probe" else f" (from {t.source or 'pasted messages'})"
    return passed(f"torch {t.version or '(version unknown)'} imports{src}", evidence=ev)
