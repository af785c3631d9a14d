"""Writes docs/fleet-report.html and docs/fleet-report.png: the HTML report of the corpus fleet
(tests/report/corpus_fleet.py: real pastes, constructed proof-runs) and Chromium's screenshot of it; and
docs/host-report.html/.png: the page of one of its hosts alone (a pasted driver/library mismatch), which
is that host's doctor's report.

    python3 -m tests.report.make_example
"""

import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from envdoctor import __version__
from envdoctor.models import Report
from envdoctor.report.html import render_html
from tests.report.corpus_fleet import corpus_report

DOCS = Path(__file__).resolve().parents[2] / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = corpus_report(Path(tmp))
        report.envdoctor = __version__
        one = Report(envdoctor=report.envdoctor, hosts=[h for h in report.hosts if h.host == "gpu05"])
        for name, shown in (("fleet-report", report), ("host-report", one)):
            page = DOCS / f"{name}.html"
            page.write_text(render_html(shown, generated=datetime(2026, 12, 1, tzinfo=timezone.utc)))
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={tmp}/profile", "--window-size=1300,1250", "--hide-scrollbars",
                            f"--screenshot={DOCS / f'{name}.png'}", page.as_uri()],
                           check=True, capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
