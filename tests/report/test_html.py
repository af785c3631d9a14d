"""--html in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium): the
page renders without console errors and without any network, the failing cells are in the DOM and red
in a screenshot, a click shows evidence and fix, filters work, and 1,000 hosts fold into a few rows."""

import io
import json
import shutil

import pytest

from envdoctor.report.html import page_model, render_html
from tests.report.corpus_fleet import corpus_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FAIL_RGB = (0xC6, 0x28, 0x28)  # --fail in html_page.css

webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium / chromedriver not installed (tests/run.sh installs Debian's chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


def open_report(browser, tmp_path, report, name="report.html"):
    from selenium.webdriver.common.by import By

    page = tmp_path / name
    page.write_text(render_html(report))
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(page.as_uri())
    assert browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr"), "the heat map did not render"
    return page


def severe_logs(browser):
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_renders_failing_cells_that_a_screenshot_shows(browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    report = corpus_report(tmp_path)
    open_report(browser, tmp_path, report)
    assert severe_logs(browser) == []
    model = page_model(report)
    expected = sum(1 for g in model["groups"] for c in g["cells"] if c and c[0] == "fail")
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap td.cell.fail")
    assert len(cells) == expected > 5
    # The summary is on hover (title) for each failing cell.
    by_host = {h.host: {c.id: c for c in h.checks} for h in report.hosts}
    for td in cells:
        row_hosts = td.find_element(By.XPATH, "./..").find_element(By.CSS_SELECTOR, "td.host").get_attribute("title")
        check = td.get_attribute("data-check")
        if check != "proof":
            assert by_host[row_hosts.splitlines()[0]][check].summary in td.get_attribute("title")
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    for td in cells:
        r = td.rect
        x, y = int(r["x"] + r["width"] / 2), int(r["y"] + r["height"] / 2)
        if y < shot.height:
            assert shot.getpixel((x, y)) == FAIL_RGB, (td.get_attribute("data-check"), shot.getpixel((x, y)))
    reds = dict((c, n) for n, c in shot.getcolors(maxcolors=1 << 24)).get(FAIL_RGB, 0)
    assert reds >= expected * 100  # each cell is ~20x18 pixels of it


def test_click_shows_evidence_and_fix_and_filters_narrow(browser, tmp_path):
    from selenium.webdriver.common.by import By

    report = corpus_report(tmp_path)
    open_report(browser, tmp_path, report)
    gpu04 = next(h for h in report.hosts if h.host == "gpu04")
    r = next(c for c in gpu04.checks if c.id == "driver_cuda_compat")
    row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
               if "gpu04" in tr.find_element(By.CSS_SELECTOR, "td.host").get_attribute("title"))
    assert "×3" in row.text and "gpu[04,09-10]" in row.text  # the same paste: one row, its hosts folded
    row.find_element(By.CSS_SELECTOR, "td.cell[data-check='driver_cuda_compat']").click()
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed()
    assert r.summary in detail.text and r.evidence[0] in detail.text and r.fix.summary in detail.text
    # Filter by status: only failing rows remain.
    browser.find_element(By.CSS_SELECTOR, "#status-filters button[data-status='fail']").click()
    statuses = {tr.get_attribute("data-status") for tr in browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")}
    assert statuses == {"fail"}
    browser.find_element(By.CSS_SELECTOR, "#status-filters button[data-status='all']").click()
    browser.find_element(By.ID, "name-filter").send_keys("cpu0")
    rows = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
    assert len(rows) == 1 and "cpu01" in rows[0].text
    # Proof bars against the baseline, and a utilisation line per GPU.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#proof .bar .base")) == 4
    assert len(browser.find_elements(By.CSS_SELECTOR, "#proof svg.util polyline")) == 4
    assert "torch" in browser.find_element(By.ID, "drift").text
    assert "470.223.02: gpu[04,09-10]" in browser.find_element(By.ID, "drift").text
    assert severe_logs(browser) == []


def test_a_thousand_hosts_fold_into_rows_and_need_no_network(browser, tmp_path):
    from selenium.webdriver.common.by import By

    report = corpus_report(tmp_path, copies=92)  # 11 hosts x 92 = 1,012
    assert len(report.hosts) >= 1000
    page = open_report(browser, tmp_path, report)
    model = page_model(report)
    rows = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
    assert len(rows) == len(model["groups"]) < 40
    assert browser.find_element(By.ID, "shown").text == f"{len(report.hosts)} host(s) in {len(rows)} row(s)"
    # Nothing on the page loads anything: no src/href, and the policy forbids fetching.
    assert browser.execute_script("return document.querySelectorAll('[src],[href],link,iframe,img').length") == 0
    assert "default-src 'none'" in page.read_text()
    assert severe_logs(browser) == []
    print(f"1,012 hosts: {page.stat().st_size / 1e6:.1f} MB, {len(rows)} rows")


def test_text_from_the_report_is_never_markup(tmp_path):
    from envdoctor.models import CheckResult, HostReport, Report

    evil = "</script><script>alert(1)</script>"
    h = HostReport(host="h", status="fail", checks=[CheckResult(id="c", title="t", status="fail", summary=evil)])
    html = render_html(Report(envdoctor="t", hosts=[h]))
    assert evil not in html
    data = html.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert evil in json.loads(data)["strings"]


def test_host_lists_are_folded_and_names_that_do_not_fold_are_kept(tmp_path):
    from envdoctor.hosts.fleet import fleet_summary
    from envdoctor.models import HostReport, Report

    hosts = [HostReport(host=name, status="pass", headline={"driver": driver}) for name, driver in
             [("gpu01", "550"), ("gpu02", "550"), ("gpu03", "550"), ("gpu05", "550"), ("a/p.txt", "550"),
              ("gpu04", "535"), ("ml@gpu06:2222", "535"), ("gpu07", "535")]]
    model = page_model(Report(envdoctor="t", hosts=hosts, fleet=fleet_summary(hosts)))
    (group,) = model["groups"]  # no checks ran: every host has the same (empty) row
    assert group["folded"] == ["gpu[01-05,07]", "a/p.txt", "ml@gpu06:2222"]
    assert group["hosts"] == [h.host for h in hosts]  # the full list stays (hover title, name filter)
    (drift,) = [d for d in model["drift"] if d["fact"] == "driver"]
    assert drift["values"] == [["535", ["gpu[04,07]", "ml@gpu06:2222"], 3]]


def _doctor_text_order(browser):
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "doctor")
    assert box.is_displayed()
    text = box.text
    firsts = [text.index(s) for s in ("Root cause:", "Verdict:", "Summary:")]
    assert firsts == sorted(firsts)
    problems = box.find_elements(By.CSS_SELECTOR, ".problem")
    assert problems and text.index("Summary:") < text.index(problems[0].text.splitlines()[0])
    return box, problems


def test_one_host_is_shown_as_its_doctors_report_not_a_strip_of_cells(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from envdoctor.models import Report

    fleet = corpus_report(tmp_path)
    host = next(h for h in fleet.hosts if h.host == "gpu05")  # a driver/library mismatch, pasted
    open_report(browser, tmp_path, Report(envdoctor="t", hosts=[host]))
    assert not browser.find_element(By.ID, "heatmap-section").is_displayed()
    assert not browser.find_element(By.ID, "drift-section").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "header h1").text == "envdoctor report: gpu05"
    box, problems = _doctor_text_order(browser)
    assert host.root_cause.cause_id in box.find_element(By.CSS_SELECTOR, ".root-cause").text
    assert host.bottom_line.text.split(":")[0] in box.find_element(By.CSS_SELECTOR, ".verdict").text
    # the problems, root cause first and worst first, each with its evidence and fix
    order = {"fail": 0, "error": 1, "warn": 2}
    shown = [(p.get_attribute("data-check"), p.get_attribute("data-status")) for p in problems]
    assert shown[0][0] == "root_cause" and [order[s] for _, s in shown[1:]] == sorted(order[s] for _, s in shown[1:])
    by_id = {c.id: c for c in host.checks}
    expected = {c.id for c in host.checks if c.status.value in order}  # a paste's unknowns are folded, not problems
    assert {i for i, _ in shown} == expected
    for p in problems:
        c = by_id[p.get_attribute("data-check")]
        assert c.summary in p.text
        if c.fix:
            assert c.fix.summary in p.text
        if c.evidence:
            assert c.evidence[0].split("\n")[0] in p.text
    # one folded line for the rest; opened, it lists each of them
    folded = box.find_element(By.CSS_SELECTOR, "details.folded")
    rest = [c for c in host.checks if c.id not in expected]
    assert "with no evidence in the paste" in folded.text and len(folded.text.splitlines()) == 1
    folded.find_element(By.TAG_NAME, "summary").click()
    items = folded.find_elements(By.CSS_SELECTOR, "li")
    assert len(items) == len(rest) and all(li.is_displayed() for li in items)
    assert severe_logs(browser) == []


def test_clicking_a_fleet_rows_hosts_shows_their_doctors_report(browser, tmp_path):
    from selenium.webdriver.common.by import By

    report = corpus_report(tmp_path)
    open_report(browser, tmp_path, report)
    assert browser.find_element(By.ID, "heatmap-section").is_displayed()
    assert not browser.find_element(By.ID, "doctor-section").is_displayed()
    gpu04 = next(h for h in report.hosts if h.host == "gpu04")
    row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
               if "gpu04" in tr.find_element(By.CSS_SELECTOR, "td.host").get_attribute("title"))
    row.find_element(By.CSS_SELECTOR, "td.host").click()
    box, problems = _doctor_text_order(browser)
    assert "gpu[04,09-10] (3 hosts, the same report)" in box.find_element(By.ID, "doctor-host").text
    compat = next(c for c in gpu04.checks if c.id == "driver_cuda_compat")
    item = next(p for p in problems if p.get_attribute("data-check") == "driver_cuda_compat")
    assert compat.summary in item.text and compat.fix.summary in item.text
    assert severe_logs(browser) == []
