"""Facts about the security posture of a host (owned by the security domain): Jupyter servers, the
effective sshd configuration, docker's exposure, and who envdoctor is logged in as.

As everywhere, None is "not known" (the evidence could not be read); an empty list is "known: none"."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ListenSocket(BaseModel):
    """A LISTEN socket of /proc/net/tcp or tcp6."""

    address: str  # "0.0.0.0", "127.0.0.1", "::", "::1", "10.0.0.5"
    port: int
    uid: int | None = None
    inode: str | None = None
    family: str = "tcp"  # "tcp" | "tcp6"

    @property
    def loopback(self) -> bool:
        return self.address.startswith("127.") or self.address in ("::1", "::ffff:127.0.0.1")

    def show(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


class JupyterServer(BaseModel):
    pid: int | None = None
    uid: int | None = None
    argv: list[str] = Field(default_factory=list)  # tokens and passwords already redacted by the probe
    listening: list[ListenSocket] | None = None  # None: its sockets could not be read (another user's process)
    port: int | None = None  # from `jupyter server list` or --port, when the sockets are not known
    ip: str | None = None  # from --ip / the server list
    token: bool | None = None  # True: a token is required; False: explicitly empty; None: not known
    password: bool | None = None
    unauthenticated_ok: bool | None = None  # GET /api/kernels without credentials answered 200
    evidence: list[str] = Field(default_factory=list)

    @property
    def beyond_loopback(self) -> list[ListenSocket]:
        return [s for s in self.listening or [] if not s.loopback]


class SshdConfig(BaseModel):
    """`sshd -T`: the effective configuration (keys lowercase, as sshd prints them)."""

    settings: dict[str, str] = Field(default_factory=dict)  # single-valued keywords
    listen_addresses: list[str] = Field(default_factory=list)  # "0.0.0.0:22", "[::]:22"
    ports: list[int] = Field(default_factory=list)


class LoginFacts(BaseModel):
    """Who the probe ran as (the user behind sudo when --become), and that user's authorized keys."""

    user: str
    uid: int | None = None
    via_sudo: bool = False
    ssh_session: bool = False
    key_count: int | None = None  # keys in the files sshd reads; None: a file could not be read
    key_files: str = ""  # "/root/.ssh/authorized_keys (2), /root/.ssh/authorized_keys2 (0)"
    keys_command: str | None = None  # AuthorizedKeysCommand: keys may come from elsewhere (LDAP, ...)


class ContainerPosture(BaseModel):
    id: str
    name: str = ""
    image: str | None = None
    privileged: bool | None = None
    docker_socket_mounts: list[str] = Field(default_factory=list)  # "/var/run/docker.sock -> /var/run/docker.sock"
    pid_mode: str | None = None


class DockerExposure(BaseModel):
    dockerd_running: bool | None = None  # a dockerd process in /proc
    tcp_hosts: list[str] | None = None  # "tcp://0.0.0.0:2375" from daemon.json "hosts" and dockerd -H
    tls_verify: bool | None = None  # --tlsverify / "tlsverify": clients need a certificate
    tcp_listening: list[ListenSocket] | None = None  # dockerd's TCP sockets (or 2375/2376 where owners are unknown)
    evidence: list[str] = Field(default_factory=list)
    group_members: list[str] | None = None  # the docker group: root-equivalent
    people: list[str] | None = None  # accounts with uid >= 1000 and a login shell
    containers: list[ContainerPosture] | None = None
    containers_error: str | None = None


class SecurityFacts(BaseModel):
    jupyter: list[JupyterServer] | None = None  # None: the process list was not read
    probe_euid: int | None = None  # who read /proc
    proc_hidepid: str | None = None  # /proc's hidepid= option (/proc/mounts), when set: others' processes hidden
    listening: list[ListenSocket] | None = None
    sshd: SshdConfig | None = None
    sshd_error: str | None = None  # why `sshd -T` gave nothing ("not-found" when sshd is not installed)
    sshd_running: bool | None = None  # an sshd listener process, or a socket on its port
    login: LoginFacts | None = None
    docker: DockerExposure = Field(default_factory=DockerExposure)
