"""The HTML page's check detail shows a check's `details` (CheckResult.details: evidence the text report shows only
under -v), as the text report does with -v."""

from __future__ import annotations

import json
import re

from envdoctor.models import CheckResult, HostReport, HostStatus, Report, Status
from envdoctor.report.html import render_html
from envdoctor.report.text import render


def report() -> Report:
    c = CheckResult(id="nvidia_modules", title="NVIDIA kernel modules", status=Status.WARN, summary="2 of 3 loaded",
                    evidence=["nvidia_uvm not loaded"], details=["nvidia 560.35.03", "nvidia_drm 560.35.03"])
    return Report(envdoctor="t", hosts=[HostReport(host="gpu01", status=HostStatus.WARN, checks=[c])])


def test_the_check_detail_carries_the_details_and_the_page_draws_them():
    page = render_html(report())
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    details = [s for s in data["strings"] if isinstance(s, dict) and s.get("details")]
    assert details == [{"evidence": ["nvidia_uvm not loaded"], "cause": None, "fix": None, "commands": [],
                        "playbook": None, "manual": None, "details": ["nvidia 560.35.03", "nvidia_drm 560.35.03"]}]
    assert "det.details.map(" in page and "Details (${det.details.length})" in page


def test_the_text_report_shows_them_under_v_only():
    assert "nvidia_drm 560.35.03" not in render(report(), color=False)
    assert "· nvidia_drm 560.35.03" in render(report(), color=False, verbose=True)
