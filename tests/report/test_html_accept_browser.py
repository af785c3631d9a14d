"""The acceptance section and a check's details in a real headless Chromium (as tests/report/test_html.py drives
it): each GPU's figure drawn against its bar and the fleet median, the CONSTRUCTED outlier named, no console error;
a cell's detail opens its details list."""

from __future__ import annotations

import pytest

from envdoctor.models import CheckResult, HostReport, HostStatus, Report, Status
from tests.accept.test_accept_report import fleet
from tests.report.test_html import browser, open_report, severe_logs  # noqa: F401 (browser: the fixture)

pytestmark = pytest.mark.slow


def test_each_figure_is_drawn_against_its_bar_and_the_fleet_median(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    open_report(browser, tmp_path, fleet(outlier=620.0))
    assert severe_logs(browser) == []
    section = browser.find_element(By.ID, "accept-section")
    assert section.is_displayed() and not browser.find_element(By.ID, "proof-section").is_displayed()
    labels = [e.text for e in section.find_elements(By.CSS_SELECTOR, ".accept-row .label")]
    assert "gpu03 GPU 5: 620 TFLOPS; bar 596; fleet median 760" in labels
    row = next(r for r in section.find_elements(By.CSS_SELECTOR, ".accept-row")
               if "gpu03 GPU 5: 620 TFLOPS" in r.text)
    assert row.find_elements(By.CSS_SELECTOR, ".bar .base") and row.find_elements(By.CSS_SELECTOR, ".bar .median")
    grey = [li.text for li in section.find_elements(By.CSS_SELECTOR, "li")]
    assert grey == ["gpu03 GPU 5: dense bf16 matmul 620.0 TFLOPS, 18% below the fleet median of 760.0 TFLOPS "
                    "(32 H100 SXM5 80GB figures)"]


def test_a_cells_detail_shows_the_checks_details(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    c = CheckResult(id="nvidia_modules", title="NVIDIA kernel modules", status=Status.WARN, summary="2 of 3 loaded",
                    evidence=["nvidia_uvm not loaded"], details=["nvidia 560.35.03", "nvidia_drm 560.35.03"])
    hosts = [HostReport(host=f"gpu0{i}", status=HostStatus.WARN, checks=[c]) for i in (1, 2)]
    open_report(browser, tmp_path, Report(envdoctor="t", hosts=hosts))
    browser.find_element(By.CSS_SELECTOR, "td.cell[data-check='nvidia_modules']").click()
    box = browser.find_element(By.ID, "detail")
    box.find_element(By.CSS_SELECTOR, "details.check-details summary").click()
    assert "Details (2)" in box.text and "nvidia_drm 560.35.03" in box.text
    assert severe_logs(browser) == []
