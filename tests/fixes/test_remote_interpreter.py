"""fix and play with an interpreter of several words, as `ansible_python_interpreter="/usr/bin/env python3"`
says: the helper and the probe are started as those words, quoted as words on an SSH command line."""

import shlex

from envdoctor.fixes.ops import StatOp
from envdoctor.fixes.remote import HELPER_SOURCE
from envdoctor.fixes.session import OpenHost
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport import LocalTransport
from envdoctor.hosts.transport.ssh import SSHTransport

ENV_PYTHON = "/usr/bin/env python3"


class RecordingTransport(LocalTransport):
    def __init__(self):
        self.calls = []

    def run(self, argv, stdin=None, timeout=60.0, on_line=None):
        self.calls.append(argv)
        return super().run(argv, stdin=stdin, timeout=timeout, on_line=on_line)


def test_helper_and_probe_run_through_usr_bin_env_for_real(tmp_path, monkeypatch):
    tr = RecordingTransport()
    monkeypatch.setattr("envdoctor.fixes.session.transport_for", lambda target, **kw: tr)
    host = OpenHost(Target(name="this-machine", python=ENV_PYTHON))
    session = host.open(checks=[], gather_facts=True, no_torch=True)  # the probe, for real, with its words
    assert session.error is None, session.error
    (res,) = session.remote.call([StatOp(path=str(tmp_path))])  # the fix helper, for real
    host.close()
    assert res.exists is True and res.mode is not None, res
    probe, helper = tr.calls[0], tr.calls[1]
    assert probe[:3] == ["/usr/bin/env", "python3", "-c"], probe[:3]
    assert helper[:4] == ["/usr/bin/env", "python3", "-c", HELPER_SOURCE], helper[:3]


def test_remote_command_line_keeps_the_interpreter_words_and_quotes_the_rest():
    host = OpenHost(Target(name="gpu1", hostname="gpu1.example", python=ENV_PYTHON))
    argv = [*host.interpreter_argv, "-c", HELPER_SOURCE]
    cmd, _prefix = SSHTransport(host.target)._command(argv, 60)
    words = shlex.split(cmd)  # what the remote shell runs
    assert words[-4:] == ["/usr/bin/env", "python3", "-c", HELPER_SOURCE]
    assert "'/usr/bin/env python3'" not in cmd  # never one quoted word that no file is named
