"""A listener that is not an SSH server, or one that hangs up on us: the line a user reads says what
happened and after how long, not "sent no SSH banner within 10 s" when the other end hung up at once."""

from __future__ import annotations

import re
import socket
import struct
import threading

import pytest
from click.testing import CliRunner

from envdoctor.cli import main


def _listener(how: str) -> socket.socket:
    """127.0.0.1:PORT that accepts, reads the client's banner, then closes the connection or resets it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(4096)  # the client's own banner: it now waits for ours
            if how == "reset":  # close with a zero linger: an RST instead of a FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.parametrize("how, said", [("reset", "reset it"), ("close", "closed it")])
def test_a_hang_up_is_not_reported_as_a_banner_timeout(tmp_path, how, said):
    server = _listener(how)
    port = server.getsockname()[1]
    try:
        r = CliRunner().invoke(main, ["check", "--no-proof", "-F", "/dev/null", "--known-hosts",
                                      str(tmp_path / "known_hosts"), "--connect-timeout", "30", f"127.0.0.1:{port}"])
    finally:
        server.close()
    assert r.exit_code == 3, r.output
    assert f"127.0.0.1:{port}: unreachable" in r.output
    line = next(ln.strip() for ln in r.output.splitlines() if "SSH banner" in ln)
    assert re.fullmatch(rf"127\.0\.0\.1:{port} accepted the connection but {said} after \d+\.\d s without sending an "
                        r"SSH banner \(not an SSH server, or one refusing new connections\?\)", line), line
    assert "within 30 s" not in r.output
