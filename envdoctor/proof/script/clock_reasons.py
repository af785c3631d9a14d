"""NVML's clock-event ("throttle") reasons, decoded with the controller's table (the vocabulary written into
this script before it is sent)."""

# The vocabulary shared with the controller: NVML's clock-event ("throttle") reasons, [{"bit", "key", "name",
# "problem"}] from envdoctor/data/clock_event_reasons.yaml. The controller replaces the next line with that table
# before sending this script (envdoctor/vocabulary.py); the copy written for the workers is that text too.
# Left None (this file run as it is), the reasons are not decoded and the result says why in "vocabulary_missing".
VOCABULARY = None
VOCABULARY_MISSING = ("the proof script ran without the controller's vocabulary (envdoctor/vocabulary.py): "
                      "clock-event (throttle) reasons were not decoded")


def vocabulary_missing():
    """Why the reasons are not decoded (the script ran without its vocabulary), else None."""
    return VOCABULARY_MISSING if VOCABULARY is None else None


def reason_names(mask):
    """The keys of the reasons set in an NVML clock-event mask ("hw_slowdown", ...); None when the mask or the
    table is missing (unknown, never "not throttled")."""
    table = (VOCABULARY or {}).get("clock_event_reasons")
    if mask is None or table is None:
        return None
    return [r["key"] for r in table if mask & r["bit"]]
