"""Writes docs/fleet-report.html and docs/fleet-report.png: the HTML report of the corpus fleet
(tests/report/corpus_fleet.py: real pastes, constructed proof-runs) and Chromium's screenshot of it.

    python3 -m tests.report.make_example
"""

import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from envdoctor import __version__
from envdoctor.report.html import render_html
from tests.report.corpus_fleet import corpus_report

DOCS = Path(__file__).resolve().parents[2] / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = corpus_report(Path(tmp))
        report.envdoctor = __version__
        page = DOCS / "fleet-report.html"
        page.write_text(render_html(report, generated=datetime(2026, 12, 1, tzinfo=timezone.utc)))
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp}/profile", "--window-size=1300,1250", "--hide-scrollbars",
                        f"--screenshot={DOCS / 'fleet-report.png'}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
