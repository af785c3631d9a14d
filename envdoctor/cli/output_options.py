"""--junit, --prometheus and --html: the report written for the tools people already run (CI, the
node exporter's textfile collector, a browser), next to what the command prints."""

from __future__ import annotations

from pathlib import Path

import click

from envdoctor.atomic import write_report
from envdoctor.models import Report
from envdoctor.report.html import render_html
from envdoctor.report.junit import render_junit
from envdoctor.report.prometheus import write_prometheus


def output_options(f):
    for opt in reversed([
        click.option("--junit", "junit_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="Also write JUnit XML here: one testcase per host and check (for CI)."),
        click.option("--prometheus", "prometheus_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="Also write Prometheus text metrics here, atomically to a file (node exporter's "
                          "textfile collector: name it *.prom in its --collector.textfile.directory)."),
        click.option("--html", "html_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="Also write a self-contained HTML fleet report here (heat map, proof, drift)."),
    ]):
        f = opt(f)
    return f


def write_outputs(report: Report, junit_path: Path | None, prometheus_path: Path | None, html_path: Path | None,
                  quiet: bool = False) -> None:
    written = []
    if junit_path:
        write_report(junit_path, render_junit(report))
        written.append(f"JUnit XML: {junit_path}")
    if prometheus_path:
        write_prometheus(prometheus_path, report)
        written.append(f"Prometheus metrics: {prometheus_path}")
    if html_path:
        write_report(html_path, render_html(report))
        written.append(f"HTML report: {html_path}")
    if written and not quiet:
        click.echo("envdoctor: wrote " + "; ".join(written), err=True)
