"""--prometheus: text exposition scraped through a real prometheus-node-exporter (Debian's), started
here on a loopback port with only its textfile collector reading our directory."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.report.prometheus import STATUS_VALUES, render_prometheus
from tests.corpus import corpus_path
from tests.report.corpus_fleet import corpus_report

EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def exporter(tmp_path):
    if not EXPORTER:
        pytest.skip("prometheus-node-exporter not installed (tests/run.sh installs Debian's)")
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    port = _free_port()
    log = open(tmp_path / "exporter.log", "wb")
    p = subprocess.Popen([EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                          "--collector.textfile", f"--collector.textfile.directory={textdir}"],
                         stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape():
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    end = time.monotonic() + 30
    while True:
        try:
            scrape()
            break
        except OSError:
            if p.poll() is not None or time.monotonic() > end:
                raise RuntimeError((tmp_path / "exporter.log").read_text())
            time.sleep(0.2)
    try:
        yield textdir, scrape
    finally:
        p.terminate()
        p.wait(10)
        log.close()


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_node_exporter_reads_the_fleet_metrics(tmp_path, exporter):
    textdir, scrape = exporter
    report = corpus_report(tmp_path)
    (textdir / "envdoctor.prom").write_text(render_prometheus(report, now=1_800_000_000.0))
    got = samples(scrape())
    assert got["node_textfile_scrape_error"] == 0  # the exporter parsed the whole file
    for h in report.hosts:
        assert got[f'envdoctor_host_status{{host="{h.host}"}}'] == STATUS_VALUES[h.status.value]
        for c in h.checks:
            assert got[f'envdoctor_check_status{{check="{c.id}",host="{h.host}"}}'] == STATUS_VALUES[c.status.value]
    gpu = report.hosts[1].proof.verdict.gpus[1]  # gpu02's slow GPU (constructed proof)
    key = f'envdoctor_proof_images_per_second{{gpu="1",host="gpu02",name="{gpu.name}"}}'
    assert got[key] == gpu.img_s
    assert got[key.replace("images_per", "baseline_images_per")] == gpu.baseline.img_s
    assert got['envdoctor_gather_seconds{host="gpu01"}'] == 0.0
    assert got["envdoctor_last_run_timestamp_seconds"] == 1.8e9


def test_check_writes_atomically_what_the_exporter_reads(tmp_path, exporter):
    textdir, scrape = exporter
    target = textdir / "envdoctor.prom"
    paste = str(corpus_path("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"))
    for _ in range(2):  # the second run replaces the first in one rename
        r = CliRunner().invoke(main, ["check", "--from", paste, "--prometheus", str(target)])
        assert r.exit_code == 1, r.output
    assert sorted(os.listdir(textdir)) == ["envdoctor.prom"]  # no temporary file left behind
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    got = samples(scrape())
    assert got["node_textfile_scrape_error"] == 0
    failing = [k for k, v in got.items() if k.startswith("envdoctor_check_status") and v == STATUS_VALUES["fail"]]
    assert any('check="nvml_version_mismatch"' in k for k in failing)


def test_label_values_are_escaped():
    from envdoctor.models import CheckResult, HostReport, Report

    h = HostReport(host='we"ird\\host\nx', status="fail",
                   checks=[CheckResult(id="c", title="t", status="fail", summary="s")])
    text = render_prometheus(Report(envdoctor="t", hosts=[h]), now=1.0)
    assert 'host="we\\"ird\\\\host\\nx"' in text


def test_write_errors_are_one_line_and_leave_nothing(tmp_path):
    from envdoctor.errors import UserError
    from envdoctor.models import HostReport, Report
    from envdoctor.report.prometheus import write_prometheus

    report = Report(envdoctor="t", hosts=[HostReport(host="n", status="pass")])
    with pytest.raises(UserError, match="its directory does not exist"):
        write_prometheus(tmp_path / "nosuch" / "m.prom", report)
    (tmp_path / "ro").mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes anyway
        with pytest.raises(UserError, match="cannot write there"):
            write_prometheus(tmp_path / "ro" / "m.prom", report)
    assert os.listdir(tmp_path / "ro") == []
