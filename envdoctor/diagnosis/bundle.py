"""The evidence bundle: the raw outputs the probe collected, by section name, or text a user pasted.

On disk a bundle is a directory (or a .tar.gz of one) holding `manifest.json` (host, time, and per
section: the command, exit code, seconds, error) and `sections/<name>.txt` (stdout) plus
`sections/<name>.stderr.txt` where stderr was not empty. A plain text file is a *paste*: whatever a
user copied into a bug report; each parser scans pastes for the blocks it knows.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import io
import json
import lzma
import math
import os
import re
import secrets
import stat
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError,
                      field_validator)

from envdoctor.atomic import umask
from envdoctor.diagnosis.paste import head_and_tail, paste_from_bytes, read_paste
from envdoctor.errors import UserError
from envdoctor.redact import MARK, redact


class Section(BaseModel):
    """One raw output. `error` is "not-found" (tool missing), "timeout", "denied" or another text;
    `rc` is None when the command did not run to an exit."""

    cmd: str = ""
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    secs: float = 0.0
    error: str | None = None

    @field_validator("cmd", "stdout", "stderr")
    @classmethod
    def _no_secrets(cls, v: str) -> str:
        return redact(no_surrogates(v))  # as early as possible: nothing after this ever sees the secret

    @field_validator("error")
    @classmethod
    def _utf8(cls, v: str | None) -> str | None:
        return None if v is None else redact(no_surrogates(v))  # an error may quote a URL with its password

    @field_validator("secs")
    @classmethod
    def _finite(cls, v: float) -> float:
        return v if math.isfinite(v) and v >= 0 else 0.0  # NaN would be written back as invalid JSON

    @property
    def ok(self) -> bool:
        return self.error is None and self.rc == 0

    @property
    def text(self) -> str:
        """stdout and stderr together: many tools print their diagnosis on stderr."""
        return self.stdout + (("\n" + self.stderr) if self.stderr else "")


class Bundle(BaseModel):
    host: str = "localhost"
    collected_at: float = Field(default_factory=time.time)
    probe_version: int | None = None
    sections: dict[str, Section] = Field(default_factory=dict)
    pastes: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # how a paste was read (e.g. only part of a huge one)
    # Sections a loaded bundle lists but could not give (file missing, a symlink...): name -> why.
    unread: dict[str, str] = Field(default_factory=dict)

    @field_validator("host")
    @classmethod
    def _host_utf8(cls, v: str) -> str:
        return redact(no_surrogates(v))  # a host may be written user:pass@host

    @field_validator("collected_at")
    @classmethod
    def _sane_time(cls, v: float) -> float:
        return v if math.isfinite(v) and 0 <= v <= MAX_TIMESTAMP else 0.0  # a tar mtime is an integer

    @field_validator("sections")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for n in v:
            _name_ok(n)  # a name becomes a file name when the bundle is saved
        return v

    @field_validator("pastes")
    @classmethod
    def _no_secrets(cls, v: list[str]) -> list[str]:
        return [redact(p) for p in v]

    def get(self, name: str) -> Section | None:
        return self.sections.get(name)

    def texts(self, *names: str) -> list[str]:
        """Texts where a block of the given sections may be found: the named sections that ran,
        then every paste. Parsers that scan for a signature use this."""
        out = [self.sections[n].text for n in names if n in self.sections and self.sections[n].error is None]
        return out + list(self.pastes)

    @property
    def redacted(self) -> list[str]:
        """The sections (and "paste") in which a secret was replaced by the redaction mark."""
        out = [n for n, s in self.sections.items() if MARK in s.stdout or MARK in s.stderr or MARK in s.cmd]
        return out + (["paste"] if any(MARK in p for p in self.pastes) else [])

    # --- on disk -------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Save as a directory, or as a tarball when the name ends in .tar.gz/.tgz. Every file is
        written to a fresh temporary name and renamed into place: a symlink, hard link or FIFO planted
        in the output folder (or at the tarball's name) is replaced, never written through."""
        files = self._files()
        path = Path(path)
        if str(path).endswith((".tar.gz", ".tgz")):
            parent = path.parent if str(path.parent) else Path(".")
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.part-", dir=parent)  # O_EXCL|O_NOFOLLOW
            try:
                with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                    for name, data in files.items():
                        info = tarfile.TarInfo(f"envdoctor-bundle/{name}")
                        info.size = len(data)
                        info.mtime = int(self.collected_at)
                        tar.addfile(info, io.BytesIO(data))
                os.chmod(tmp, 0o644 & ~umask())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return
        try:
            path.mkdir(parents=True, exist_ok=True)
            top = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise UserError(f"cannot write the bundle: {e.strerror}", where=str(path)) from None
        try:
            for name, data in files.items():
                _write_in(top, name, data, str(path))
        finally:
            os.close(top)

    def _files(self) -> dict[str, bytes]:
        for n in self.sections:
            check_section_name(n, "bundle")
        manifest = {
            "format": FORMAT,
            "host": self.host,
            "collected_at": self.collected_at,
            "probe_version": self.probe_version,
            "sections": {
                n: {"cmd": s.cmd, "rc": s.rc, "secs": s.secs, "error": s.error} for n, s in self.sections.items()
            },
        }
        files = {"manifest.json": json.dumps(manifest, indent=2).encode()}
        for n, s in self.sections.items():
            files[f"sections/{n}.txt"] = s.stdout.encode()
            if s.stderr:
                files[f"sections/{n}.stderr.txt"] = s.stderr.encode()
        for i, p in enumerate(self.pastes):
            files[f"pastes/{i}.txt"] = p.encode()
        return files

    @classmethod
    def load(cls, path: Path) -> "Bundle":
        """Read a bundle directory, a bundle tarball, or a plain text paste."""
        path = Path(path)
        where = str(path)
        held = _held_fd(where)
        try:
            if held is None:
                st = os.stat(path)
            if held is None and stat.S_ISDIR(st.st_mode):
                return cls._from_files(_DirReader(path), where)
            if held is None and stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    if _looks_like_tar(f):
                        return cls._from_files(_read_tar(f, where), where)
                if where.endswith((".tar.gz", ".tgz")):  # a damaged bundle, not a paste to scan
                    raise UserError("not a readable bundle tarball", where=where)
                text, notes = read_paste(path)  # UTF-16/32 BOMs, size cap, empty/binary refused
            else:
                if held is None and stat.S_ISFIFO(st.st_mode):
                    # Opening a named FIFO waits for a writer, maybe forever: the shell's redirection makes
                    # that wait explicit and visible to the user.
                    raise UserError("a named FIFO: envdoctor does not wait on one; use `--from - < FIFO`",
                                    where=where)
                if held is None and stat.S_ISSOCK(st.st_mode):
                    raise UserError("a socket, not a file, a bundle or a pipe", where=where)
                data = _read_stream(held, path, where)  # a pipe or a device: once, bounded
                f = io.BytesIO(data)
                if _looks_like_tar(f):
                    return cls._from_files(_read_tar(f, where), where)
                text, notes = paste_from_bytes(head_and_tail(data), len(data), where)
        except FileNotFoundError:
            raise UserError("no such file or directory", where=where) from None
        except (OSError, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
            raise UserError(f"cannot read: {getattr(e, 'strerror', None) or e}", where=where) from None
        name = "stdin" if held is not None else os.fsencode(path.name).decode("utf-8", "backslashreplace")
        return cls(host=name, pastes=[text], notes=notes)

    @classmethod
    def _from_files(cls, files, where: str) -> "Bundle":
        raw = files.get("manifest.json")
        if raw is None:
            raise UserError("not an envdoctor bundle (no manifest.json)", where=where)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise UserError(f"manifest.json is {len(raw)} bytes (the limit is {MAX_MANIFEST_BYTES >> 20} MiB): "
                            "not a bundle envdoctor wrote; refused", where=where)
        try:
            doc = json.loads(raw, object_pairs_hook=_ObjectCap(where), parse_constant=_no_constant)
        except RecursionError:
            raise UserError("manifest.json does not parse: nested too deeply", where=where) from None
        except ValueError as e:
            raise UserError(f"manifest.json does not parse: {e}", where=where) from None
        try:
            manifest = Manifest.model_validate(doc)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(x) for x in err.get("loc", ())) or "(the document)"
            raise UserError(f"manifest.json: {field}: {err.get('msg', 'invalid')}", where=where) from None
        except RecursionError:
            raise UserError("manifest.json: nested too deeply", where=where) from None
        sections, unread = {}, {}
        for n, meta in manifest.sections.items():
            out = files.get(f"sections/{n}.txt")
            err = files.get(f"sections/{n}.stderr.txt")
            if out is None:
                # Listed but not there (or not a regular file): the evidence is unknown, as if never
                # collected, not an empty successful output.
                why = files.why_missing(f"sections/{n}.txt") if isinstance(files, _DirReader) else None
                unread[n] = f"sections/{n}.txt " + (why or "is missing")
                continue
            sections[n] = Section(cmd=meta.cmd, rc=meta.rc, secs=meta.secs, error=meta.error,
                                  stdout=out.decode("utf-8", "replace"),
                                  stderr=(err or b"").decode("utf-8", "replace"))
        keys = files.paste_names() if isinstance(files, _DirReader) else [k for k in files if k.startswith("pastes/")]
        pastes = [files[k].decode("utf-8", "replace") for k in sorted(keys)]
        return cls(host=manifest.host, collected_at=manifest.collected_at, probe_version=manifest.probe_version,
                   sections=sections, pastes=pastes, unread=unread)


# --- names and limits ------------------------------------------------------------------------------

FORMAT = "envdoctor-bundle/1"
# A section name becomes a file name: letters, digits, `_` and `-` only (no separator, no dot, no NUL).
_SECTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
MAX_MEMBER_BYTES = 64 << 20  # one file of a bundle (the probe keeps at most 2 MB per stream)
MAX_TOTAL_BYTES = 256 << 20  # all files of a bundle, uncompressed
MAX_MEMBERS = 4096
MAX_MANIFEST_BYTES = 4 << 20  # a real one is a few kB: sections are listed there, their output is not
MAX_SECTIONS = 1024  # the probe collects under 100; each listed section costs a model and a file lookup
MAX_STREAM_BYTES = 64 << 20  # a pipe or device given to --from: all of it is held to detect the format
MAX_TIMESTAMP = 253402300799  # 9999-12-31: the last time a date can show
_CHUNK = 1 << 20
_MAGIC = ((b"\x1f\x8b", gzip.GzipFile), (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))


def no_surrogates(v: str) -> str:
    """A string that encodes as UTF-8: lone surrogates (from JSON escapes or undecodable file names) shown as
    their code, so that no report or JSON output fails on them."""
    try:
        v.encode("utf-8")
        return v
    except UnicodeEncodeError:
        return v.encode("utf-8", "backslashreplace").decode("utf-8")


def _no_constant(name: str):
    # NaN and Infinity are not JSON; accepting them means writing them back as invalid JSON
    raise ValueError(f"{name} is not a JSON number")


class _ObjectCap:
    """json's object hook, counting objects as they are built: a manifest listing a million sections is
    refused after MAX_SECTIONS of them, before they are all in memory."""

    def __init__(self, where: str):
        self.n = 0
        self.where = where

    def __call__(self, pairs):
        self.n += 1
        if self.n > MAX_SECTIONS + 8:
            raise UserError(f"manifest.json lists more than {MAX_SECTIONS} sections: not a bundle envdoctor "
                            "wrote; refused", where=self.where)
        return dict(pairs)


def check_section_name(name: str, where: str) -> str:
    if not isinstance(name, str) or not _SECTION_NAME.fullmatch(name):
        shown = repr(name)[:80]
        raise UserError(f"section name {shown} is not allowed (letters, digits, _ and -, at most 64)", where=where)
    return name


def _name_ok(v: str) -> str:
    if not _SECTION_NAME.fullmatch(v):
        raise ValueError("a section name is letters, digits, _ and - (at most 64), not " + repr(v)[:80])
    return v


SectionName = Annotated[str, AfterValidator(_name_ok)]


class ManifestSection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cmd: StrictStr = ""
    rc: StrictInt | None = None
    secs: float = Field(0.0, ge=0, allow_inf_nan=False)
    error: StrictStr | None = None


class Manifest(BaseModel):
    """manifest.json, validated before anything in it is used."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["envdoctor-bundle/1"] = FORMAT
    host: StrictStr = "unknown"
    collected_at: float = Field(0.0, ge=0, le=MAX_TIMESTAMP, allow_inf_nan=False)
    probe_version: StrictInt | None = None
    sections: dict[SectionName, ManifestSection] = Field(default_factory=dict, max_length=MAX_SECTIONS)


def _wanted(name: str) -> bool:
    """The only files of a bundle ever read (anything else in an archive is skipped unread)."""
    if name == "manifest.json":
        return True
    top, _, rest = name.partition("/")
    if top == "sections" and rest.endswith(".txt"):
        return bool(_SECTION_NAME.fullmatch(rest[:-4].removesuffix(".stderr")))
    return top == "pastes" and bool(re.fullmatch(r"\d{1,6}\.txt", rest))


class _Budget:
    def __init__(self, where: str):
        self.total = 0
        self.where = where

    def read(self, f, name: str) -> bytes:
        chunks, size = [], 0
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            self.total += len(chunk)
            if size > MAX_MEMBER_BYTES:
                raise UserError(f"{name} is larger than {MAX_MEMBER_BYTES >> 20} MiB uncompressed: not a bundle "
                                "envdoctor wrote; refused", where=self.where)
            if self.total > MAX_TOTAL_BYTES:
                raise UserError(f"the bundle is larger than {MAX_TOTAL_BYTES >> 20} MiB uncompressed: refused",
                                where=self.where)
            chunks.append(chunk)


class _Bounded(io.RawIOBase):
    """The decompressed archive as tarfile reads it: no single read may exceed a member's limit (tarfile
    reads a GNU long name or a pax header whole, before any member is seen) and all reads together stay
    within the bundle's."""

    def __init__(self, f, where: str):
        self.f, self.where, self.total = f, where, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)  # forward only in practice; skipped members are counted by the caller

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_MEMBER_BYTES:
            raise UserError(f"a tar header asks to read {n} bytes at once (a long name or pax header; the limit "
                            f"is {MAX_MEMBER_BYTES >> 20} MiB): not a bundle envdoctor wrote; refused", where=self.where)
        data = self.f.read(n)
        self.total += len(data)
        if self.total > MAX_TOTAL_BYTES + MAX_MEMBER_BYTES:
            raise UserError(f"the bundle is larger than {MAX_TOTAL_BYTES >> 20} MiB uncompressed: refused",
                            where=self.where)
        return data


def _decompressed(f):
    f.seek(0)
    head = f.read(6)
    f.seek(0)
    opener = next((o for magic, o in _MAGIC if head.startswith(magic)), None)
    return opener(fileobj=f) if opener is gzip.GzipFile else opener(f) if opener else f


def _looks_like_tar(f) -> bool:
    """A tar archive, compressed or not, judged from its first block only (tarfile.is_tarfile would
    read a device such as /dev/zero without end)."""
    head = f.read(6)
    f.seek(0)
    if any(head.startswith(magic) for magic, _ in _MAGIC):
        return True  # compressed: only ever a bundle here; a damaged one is reported as such
    block = f.read(tarfile.BLOCKSIZE)
    f.seek(0)
    if len(block) < tarfile.BLOCKSIZE or not block.strip(b"\0"):
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        return True
    except tarfile.HeaderError:
        return False


def _read_tar(raw, where: str) -> dict[str, bytes]:
    """The wanted files of a bundle tarball (an open binary file), each read in bounded chunks: a
    decompression bomb is a one-line refusal, not gigabytes of memory."""
    files: dict[str, bytes] = {}
    budget = _Budget(where)
    with tarfile.open(fileobj=_Bounded(_decompressed(raw), where), mode="r:") as tar:
        for n, m in enumerate(tar):  # streamed: no member list of a hostile archive kept
            if n >= MAX_MEMBERS:
                raise UserError(f"more than {MAX_MEMBERS} members: not a bundle envdoctor wrote", where=where)
            name = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if not m.isfile() or not _wanted(name):
                # tarfile still decompresses through a skipped member to reach the next header: it counts.
                budget.total += max(m.size, 0)
                if budget.total > MAX_TOTAL_BYTES:
                    raise UserError(f"the bundle is larger than {MAX_TOTAL_BYTES >> 20} MiB uncompressed (with {name}, "
                                    "a member envdoctor does not read): refused", where=where)
                continue
            if m.size > MAX_MEMBER_BYTES or budget.total + m.size > MAX_TOTAL_BYTES:
                raise UserError(f"{name} is {m.size} bytes uncompressed (the limit is {MAX_MEMBER_BYTES >> 20} MiB "
                                f"a file, {MAX_TOTAL_BYTES >> 20} MiB in all): refused", where=where)
            f = tar.extractfile(m)
            files[name] = budget.read(f, name) if f is not None else b""
    return files


def _held_fd(where: str) -> int | None:
    """The descriptor a path names when it is one this process already holds: `-`, /dev/stdin, or a
    shell's `<(cmd)` (/dev/fd/N). Read through that descriptor: reopening a pipe by name fails or waits."""
    if where in ("-", "/dev/stdin"):
        return 0
    m = re.fullmatch(r"/(?:dev|proc/self)/fd/(\d{1,6})", where)
    return int(m.group(1)) if m else None


def _read_stream(fd: int | None, path: Path, where: str) -> bytes:
    """All a pipe or a device gives, read once, up to MAX_STREAM_BYTES (/dev/zero ends there)."""
    if fd == 0:
        f = getattr(sys.stdin, "buffer", None) or sys.stdin
        close = False
    elif fd is not None:
        f, close = os.fdopen(os.dup(fd), "rb"), True
    else:
        # a device: O_NONBLOCK so that opening never waits (a tty, a modem); reads of /dev/zero do not block
        f, close = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb"), True
    chunks, size = [], 0
    try:
        while size <= MAX_STREAM_BYTES:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        if close:
            f.close()
    if size > MAX_STREAM_BYTES:
        raise UserError(f"more than {MAX_STREAM_BYTES >> 20} MiB from a pipe or device: not a paste or a bundle; "
                        "save it to a file if it is one", where=where)
    return b"".join(chunks)


class _DirReader:
    """A bundle directory read file by file, never through a symlink, a FIFO or a device: only
    regular files, opened with O_NOFOLLOW and checked again on the open descriptor."""

    def __init__(self, root: Path):
        self.root = root
        self.budget = _Budget(str(root))
        self.cache: dict[str, bytes | None] = {}
        self.why: dict[str, str] = {}

    def get(self, name: str, default=None):
        if name not in self.cache:
            self.cache[name] = self._read(name)
        return self.cache[name] if self.cache[name] is not None else default

    def __getitem__(self, name: str) -> bytes:
        return self.get(name)

    def why_missing(self, name: str) -> str | None:
        return self.why.get(name)

    def _read(self, name: str) -> bytes | None:
        if not _wanted(name):
            return None
        parts = name.split("/")
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            for d in parts[:-1]:
                try:
                    nxt = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        self.why[name] = f"{d}/ is not a plain directory"
                    return None
                os.close(fd)
                fd = nxt
            try:
                st = os.lstat(parts[-1], dir_fd=fd)
            except FileNotFoundError:
                return None
            if not stat.S_ISREG(st.st_mode):
                self.why[name] = "a symlink, FIFO or device, not a regular file; not read" if not stat.S_ISDIR(
                    st.st_mode) else "a directory"
                return None
            ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            with os.fdopen(ffd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped after the lstat
                    self.why[name] = "not a regular file; not read"
                    return None
                return self.budget.read(f, name)
        except OSError as e:
            self.why[name] = e.strerror or str(e)
            return None
        finally:
            os.close(fd)

    def paste_names(self) -> list[str]:
        d = self.root / "pastes"
        if d.is_symlink() or not d.is_dir():
            return []
        names = [f"pastes/{e.name}" for e in os.scandir(d) if _wanted(f"pastes/{e.name}")]
        return [n for n in names if self.get(n) is not None]


def _write_in(top: int, name: str, data: bytes, where: str) -> None:
    """Write `name` (a/b.txt) below the directory `top` through fresh names renamed into place, so a
    planted symlink is replaced (never followed): subdirectories are opened with O_NOFOLLOW."""
    parts = name.split("/")
    fd = os.dup(top)
    try:
        for d in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o755, dir_fd=fd)
            try:
                nxt = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                raise UserError(f"{d}/ in the output folder is not a plain directory (a symlink?): not writing "
                                "through it", where=where) from None
            os.close(fd)
            fd = nxt
        tmp = f".{parts[-1]}.part-{os.getpid()}-{secrets.token_hex(4)}"
        wfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        try:
            with os.fdopen(wfd, "wb") as f:
                f.write(data)
            os.replace(tmp, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            raise
    except OSError as e:
        raise UserError(f"cannot write {name}: {e.strerror or e}", where=where) from None
    finally:
        os.close(fd)
