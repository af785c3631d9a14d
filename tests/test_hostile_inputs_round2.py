"""Hostile inputs, second round (issue 21, classes 1, 2, 3, 4, 6, 7, 9 and the bundle/--from items of 5; the
redactor's bombs are in tests/security/test_redaction_linear.py, the inventory and host-range ones in
tests/inventory/test_bombs.py, the playbook imports in tests/fixes/test_import_bombs.py, the SIGTERM of a
huge fleet in tests/hosts/test_interrupt_big_fleet.py). Every input here is constructed. The CLI runs in a
child process under RLIMIT_AS and RLIMIT_CPU: a bomb that gets through is killed by the limit and the test
fails on the exit status, never on wall-clock time. FIFOs and files live in tmp_path only."""

import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import zlib

import pytest

from envdoctor.report.prometheus import render_prometheus, unique_hosts

MEM = 600 << 20  # address space: an unbounded read of /dev/zero or a 512 MiB tar header exceeds it
CPU_S = 20
# A wait on a FIFO costs no CPU, so RLIMIT_CPU cannot end it: this only turns a hang into a failure, it
# times nothing.
HANG = 300
XID = b"Mar  4 10:12:01 gpu1 kernel: NVRM: Xid (PCI:0000:01:00): 79, pid=1, GPU has fallen off the bus.\n"


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEM, MEM))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))


def envdoctor(*argv, cwd=None, stdin=subprocess.DEVNULL, pass_fds=()):
    """`envdoctor ARGV` in a bounded child; (rc, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-m", "envdoctor", *map(os.fsdecode, argv)], stdin=stdin,
                       capture_output=True, preexec_fn=_limits, cwd=cwd, pass_fds=pass_fds,
                       env={**os.environ, "PYTHONPATH": os.getcwd()},
                       timeout=HANG)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def refused(rc, err, *words):
    # without a terminal a big input's reading phase is one progress line ("envdoctor: reading X..."); the
    # refusal is the one line after it
    lines = [ln for ln in err.strip().splitlines() if not (ln.startswith("envdoctor: reading ") and ln.endswith("..."))]
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]


def bundle_dir(d, manifest_text: str, sections=()):
    (d / "sections").mkdir(parents=True)
    (d / "manifest.json").write_text(manifest_text)
    for n in sections:
        (d / "sections" / f"{n}.txt").write_text("out\n")
    return d


# --- 1: terminal injection -------------------------------------------------------------------------

# OSC title (BEL), OSC 8 hyperlink and DCS (ST), an unterminated OSC 52 clipboard write, CSI clears, RIS,
# C1 CSI, CR; the unterminated OSC goes last on its line, as it swallows what follows.
ESCAPES = ("\x1b]0;pwned\x07 \x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ \x1bP+q544e\x1b\\ "
           "\x1b[2J\x1b[H \x1bc \x9b2J \rfake ok \x1b]52;c;cHduZWQ=")
RAW = ("\x1b", "\x07", "\x9b", "\x90", "\x9d", "\r")


def test_escape_sequences_in_a_paste_and_its_name_reach_no_terminal(tmp_path):
    """Constructed attack: a paste whose file name and Xid, NVRM and error lines carry every kind of escape
    sequence, 10,000 lines of them (1.5 MB; about 3 CPU-s here): the text report and stderr show them escaped, never raw, and
    the run stays within the CPU and memory limits."""
    line = "Mar  4 10:12:01 gpu1 kernel: NVRM: Xid (PCI:0000:01:00): 79, pid=1, " + ESCAPES + "\n"
    paste = tmp_path / "nvidia\x1b]0;title\x07.txt"
    paste.write_text(XID.decode() + line * 10_000 + "RuntimeError: CUDA error: " + ESCAPES + "\n")
    for extra in ((), ("--verbose",)):
        rc, out, err = envdoctor("check", "--no-proof", *extra, "--from", paste)
        assert rc == 1 and "Traceback" not in err, err[-2000:]
        assert "gpu_hardware_xid" in out and "nvidia\\x1b]0;title\\x07.txt" in out
        assert not [c for c in RAW if c in out or c in err], [c for c in RAW if c in out or c in err]
    rc, out, err = envdoctor("check", "--no-proof", "--json", "--from", paste)
    assert json.loads(out)["hosts"][0]["host"] == "nvidia\x1b]0;title\x07.txt"  # JSON keeps the raw text


# --- 2: secrets in pastes, bundles and diffs -----------------------------------------------------------

SECRETS = ["hunter2-sshpass", "hunter2-mysql", "hunter2-curl", "hunter2-url", "ghp_" + "A1b2C3d4E5" * 4,
           "hunter2-ipmi", "Zm9vYmFyYmF6cXV4c2VjcmV0a2V5"]
SECRET_PASTE = f"""$ sshpass -p {SECRETS[0]} ssh gpu1 nvidia-smi
$ mysql -u root -p{SECRETS[1]} jobs
$ curl -u bob:{SECRETS[2]} https://artifacts.internal/cuda.run
$ pip install --index-url https://bob:{SECRETS[3]}@pypi.internal/simple torch
export GH_PAT={SECRETS[4]}
$ ipmitool -I lanplus -H bmc1 -U admin -P {SECRETS[5]} sel list
DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SECRETS[6]};EndpointSuffix=core.windows.net
""" + XID.decode()


def test_secrets_in_a_paste_reach_no_output_and_no_saved_bundle(tmp_path):
    """Constructed: a paste holding a password flag and its value (sshpass -p, mysql -pVALUE, ipmitool -P),
    curl -u, a URL password, a token and a storage key, then 1.5 MB more of such lines (about 3 CPU-s
    here): the text and JSON reports and a bundle saved from it hold none of them."""
    paste = tmp_path / "paste.txt"
    paste.write_text(SECRET_PASTE + SECRET_PASTE * 3_000)
    outputs = []
    for args in (["check", "--no-proof"], ["check", "--no-proof", "--json"], ["facts", "--raw"]):
        rc, out, err = envdoctor(*args, "--from", paste)
        assert "Traceback" not in err, err[-2000:]
        outputs += [out, err]
    rc, out, err = envdoctor("facts", "--from", paste, "--bundle", tmp_path / "saved.tar.gz")
    assert rc == 0, err
    with tarfile.open(tmp_path / "saved.tar.gz") as tar:
        outputs += [tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()]
    assert any("<redacted>" in o for o in outputs)
    assert not [s for s in SECRETS for o in outputs if s in o]


# --- 3: text that is not clean UTF-8 ---------------------------------------------------------------

def test_lone_surrogate_in_manifest_host_is_shown_escaped(tmp_path):
    """Constructed: manifest host "h\\ud800x" (valid JSON, not encodable as UTF-8)."""
    d = bundle_dir(tmp_path / "b", '{"format": "envdoctor-bundle/1", "host": "h\\ud800x", "sections": {}}')
    rc, out, err = envdoctor("check", "--from", d)
    assert rc in (0, 1, 3) and "Traceback" not in err, err
    assert "h\\ud800x" in out
    rc, out, err = envdoctor("check", "--json", "--from", d)
    assert "Traceback" not in err, err
    assert json.loads(out)["hosts"][0]["host"] == "h\\ud800x"


def test_latin1_paste_file_name_does_not_break_json_or_prometheus(tmp_path):
    """Constructed: a paste whose file name is the Latin-1 bytes caf\\xe9.txt."""
    name = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(name, "wb") as f:
        f.write(XID)
    rc, out, err = envdoctor("check", "--json", "--from", name, "--prometheus", tmp_path / "m.prom")
    assert "Traceback" not in err, err
    assert json.loads(out)["hosts"][0]["host"] == "caf\\xe9.txt"
    assert 'host="caf\\\\xe9.txt"' in (tmp_path / "m.prom").read_text()


def test_syslog_with_a_nul_block_before_the_xid_line_is_read(tmp_path):
    """Constructed: what a crash leaves, 100,000 NUL bytes where the log was preallocated, then an Xid."""
    log = tmp_path / "syslog"
    log.write_bytes(b"Mar  4 10:11:59 gpu1 kernel: eth0 up\n" + b"\0" * 100_000 + XID)
    rc, out, err = envdoctor("check", "--from", log)
    assert rc == 1 and "binary" not in err, err
    assert "gpu_hardware_xid" in out


# --- 4: numbers in manifests -----------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [("collected_at", "NaN"), ("collected_at", "Infinity"),
                                         ("collected_at", "-Infinity"), ("collected_at", "1e300"),
                                         ("secs", "NaN")])
def test_non_finite_manifest_numbers_are_one_line_errors(tmp_path, field, value):
    """Constructed: NaN, infinity or a time past year 9999 in manifest.json, saved again as a tarball."""
    sec = '{"cmd": "x", "rc": 0, "secs": %s}' % (value if field == "secs" else "0.5")
    top = value if field == "collected_at" else "0"
    d = bundle_dir(tmp_path / "b", '{"format": "envdoctor-bundle/1", "host": "h", "collected_at": %s, '
                   '"sections": {"s": %s}}' % (top, sec), sections=["s"])
    rc, out, err = envdoctor("facts", "--from", d, "--bundle", tmp_path / "again.tar.gz")
    refused(rc, err, "manifest.json")
    assert not (tmp_path / "again.tar.gz").exists()


# --- 5: bounds on what --from reads ----------------------------------------------------------------

@pytest.mark.parametrize("dev", ["/dev/zero", "/dev/urandom"])
def test_endless_device_stops_at_the_byte_bound(dev):
    """Constructed: --from an endless character device (before: read until killed, 1.2 GB)."""
    rc, out, err = envdoctor("check", "--from", dev)
    refused(rc, err, dev, "MiB from a pipe or device")


def test_named_fifo_is_refused_without_waiting(tmp_path):
    """Constructed: --from a FIFO that no one writes to (before: waited forever). Opening a named FIFO
    waits for a writer, so it is refused; `--from - < FIFO` makes the wait the shell's, explicit."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    rc, out, err = envdoctor("check", "--from", fifo)
    refused(rc, err, "named FIFO")


def test_gnu_long_name_header_of_512_mib_is_refused_before_it_is_read(tmp_path):
    """Constructed: a 2 MB tarball whose first header is a GNU long name of 512 MiB (before: 570 MB of
    memory, tarfile reads the name whole before any member is seen)."""
    path = tmp_path / "longname.tar.gz"
    head = tarfile.TarInfo("././@LongLink")
    head.type, head.size = tarfile.GNUTYPE_LONGNAME, 512 << 20
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(z.compress(head.tobuf(format=tarfile.GNU_FORMAT)))
        chunk = b"a" * (1 << 20)
        for _ in range(512):
            f.write(z.compress(chunk))
        f.write(z.compress(b"\0" * 1024) + z.flush())
    rc, out, err = envdoctor("check", "--from", path)
    refused(rc, err, "tar header asks to read 536870912 bytes")


def _tar(path, manifest: bytes):
    with tarfile.open(path, "w:gz") as t:
        info = tarfile.TarInfo("envdoctor-bundle/manifest.json")
        info.size = len(manifest)
        t.addfile(info, io.BytesIO(manifest))
    return path


def test_manifest_listing_a_million_sections_is_refused(tmp_path):
    """Constructed: a 2 MB tarball whose manifest lists 10^6 sections (before: 875 MB, 7 CPU-s)."""
    doc = {"format": "envdoctor-bundle/1", "host": "h", "sections": {f"s{i}": {} for i in range(10**6)}}
    rc, out, err = envdoctor("check", "--from", _tar(tmp_path / "many.tar.gz", json.dumps(doc).encode()))
    refused(rc, err, "manifest.json is")


def test_manifest_under_the_size_cap_with_too_many_sections_is_refused(tmp_path):
    """Constructed: 100,000 sections packed into under 4 MiB: refused by the count, while parsing."""
    doc = {"format": "envdoctor-bundle/1", "host": "h", "sections": {f"s{i}": {} for i in range(10**5)}}
    rc, out, err = envdoctor("check", "--from", _tar(tmp_path / "many.tar.gz", json.dumps(doc).encode()))
    refused(rc, err, "more than 1024 sections")


# --- 6: output files that are special ----------------------------------------------------------------

def test_reports_to_a_fifo_and_to_stdout_are_written_through(tmp_path):
    """Constructed: --junit to a FIFO a CI reader waits on, --prometheus to /dev/stdout."""
    paste = tmp_path / "p.txt"
    paste.write_bytes(XID)
    fifo = tmp_path / "junit.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    rc, out, err = envdoctor("check", "--from", paste, "--junit", fifo, "--prometheus", "/dev/stdout")
    got = reader.communicate(timeout=HANG)[0].decode()
    assert rc == 1 and "Traceback" not in err, err
    assert got.startswith("<?xml") and "</testsuites>" in got
    assert os.path.exists(fifo) and not os.path.isfile(fifo)  # still a FIFO
    assert 'envdoctor_host_status{host="p.txt"} 2.0' in out


def test_report_to_a_fifo_without_reader_is_one_line_not_a_wait(tmp_path):
    """Constructed: --html to a FIFO nobody reads."""
    paste = tmp_path / "p.txt"
    paste.write_bytes(XID)
    fifo = tmp_path / "html.fifo"
    os.mkfifo(fifo)
    rc, out, err = envdoctor("check", "--from", paste, "--html", fifo)
    refused(rc, err, "a FIFO with no reader")
    assert not os.path.isfile(fifo)


def test_two_pastes_with_one_name_give_unique_prometheus_series(tmp_path):
    """Constructed: a/nvidia.txt and b/nvidia.txt (before: two identical series, the collector drops the file)."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "nvidia.txt").write_bytes(XID)
    rc, out, err = envdoctor("check", "--from", "a/nvidia.txt", "--from", "b/nvidia.txt", "--from", "a/nvidia.txt",
                             "--prometheus", "m.prom", cwd=tmp_path)
    series = [l.split(" ")[0] for l in (tmp_path / "m.prom").read_text().splitlines() if not l.startswith("#")]
    assert len(series) == len(set(series))
    assert 'envdoctor_host_status{host="a/nvidia.txt#2"}' in series


def test_unique_hosts_never_takes_another_hosts_name():
    assert unique_hosts(["a", "a", "a#2"]) == ["a", "a#3", "a#2"]


# --- 7: reading from a pipe --------------------------------------------------------------------------

NVSMI = b"""+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
"""


def test_paste_from_stdin_dash_and_dev_stdin(tmp_path):
    """Constructed: `nvidia-smi | envdoctor check --from -`, and the same through /dev/stdin."""
    for name in ("-", "/dev/stdin"):
        r = subprocess.run([sys.executable, "-m", "envdoctor", "check", "--json", "--from", name], input=NVSMI + XID,
                           capture_output=True, preexec_fn=_limits, timeout=HANG)
        assert b"Traceback" not in r.stderr and b"Illegal seek" not in r.stderr, r.stderr
        assert json.loads(r.stdout)["hosts"][0]["host"] == "stdin"


def test_bundle_tarball_through_a_descriptor_like_process_substitution(tmp_path):
    """Constructed: `--from <(cat bundle.tar.gz)`: /dev/fd/N of a pipe; the format is found from the bytes."""
    from envdoctor.diagnosis.bundle import Bundle, Section

    tgz = tmp_path / "b.tar.gz"
    Bundle(host="gpu7", sections={"uname": Section(cmd="uname -a", rc=0, stdout="Linux gpu7\n")}).save(tgz)
    r, w = os.pipe()
    writer = subprocess.Popen(["cat", str(tgz)], stdout=w)
    os.close(w)
    try:
        rc, out, err = envdoctor("check", "--json", "--from", f"/dev/fd/{r}", pass_fds=(r,))
    finally:
        os.close(r)
        writer.wait()
    assert "Traceback" not in err and "Illegal seek" not in err, err
    assert json.loads(out)["hosts"][0]["host"] == "gpu7"


def test_endless_pipe_on_stdin_stops_at_the_byte_bound():
    """Constructed: `cat /dev/zero | envdoctor check --from -`."""
    with open("/dev/zero", "rb") as zero:
        rc, out, err = envdoctor("check", "--from", "-", stdin=zero)
    refused(rc, err, "MiB from a pipe or device")


def test_prometheus_labels_unique_in_the_renderer_too():
    from envdoctor.models import HostReport, HostStatus, Report

    rep = Report(envdoctor="t", hosts=[HostReport(host="n", status=HostStatus.PASS),
                                       HostReport(host="n", status=HostStatus.FAIL)])
    lines = [l for l in render_prometheus(rep, now=0).splitlines() if l.startswith("envdoctor_host_status{")]
    assert lines == ['envdoctor_host_status{host="n"} 0.0', 'envdoctor_host_status{host="n#2"} 2.0']


# --- 9: empty selections -------------------------------------------------------------------------------

def test_empty_target_and_an_inventory_of_control_characters_are_one_line(tmp_path):
    """Constructed: `check "$HOSTS"` with HOSTS unset, and YAML inventories whose host names carry escape
    sequences (raw: refused by YAML; written as \\x1b escapes: refused as a host): exit 2, one printable line."""
    rc, out, err = envdoctor("check", "--no-proof", "-F", "/dev/null", "")
    refused(rc, err, "the TARGET is empty")
    raw = tmp_path / "raw.yml"
    raw.write_bytes(b"all:\n  hosts:\n    gpu\x1b]0;pwned\x07\x0b01:\n")
    escaped = tmp_path / "escaped.yml"
    escaped.write_text('all:\n  hosts:\n    "gpu\\x1b[2J\\nx":\n')
    for inv in (raw, escaped):
        for command in (["check", "--no-proof"], ["hosts"]):
            rc, out, err = envdoctor(*command, "-F", "/dev/null", "-i", inv)
            refused(rc, err)
            assert not [c for c in RAW if c in err], err
