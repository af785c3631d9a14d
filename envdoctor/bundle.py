"""The evidence bundle: the raw outputs the probe collected, by section name, or text a user pasted.

On disk a bundle is a directory (or a .tar.gz of one) holding `manifest.json` (host, time, and per
section: the command, exit code, seconds, error) and `sections/<name>.txt` (stdout) plus
`sections/<name>.stderr.txt` where stderr was not empty. A plain text file is a *paste*: whatever a
user copied into a bug report; each parser scans pastes for the blocks it knows.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

from pydantic import BaseModel, Field

from envdoctor.errors import UserError


class Section(BaseModel):
    """One raw output. `error` is "not-found" (tool missing), "timeout", "denied" or another text;
    `rc` is None when the command did not run to an exit."""

    cmd: str = ""
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    secs: float = 0.0
    error: str | None = None

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

    def get(self, name: str) -> Section | None:
        return self.sections.get(name)

    def texts(self, *names: str) -> list[str]:
        """Texts where a block of the given sections may be found: the named sections that ran,
        then every paste. Parsers that scan for a signature use this."""
        out = [self.sections[n].text for n in names if n in self.sections and self.sections[n].error is None]
        return out + list(self.pastes)

    # --- on disk -------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Save as a directory, or as a tarball when the name ends in .tar.gz/.tgz."""
        files = self._files()
        if str(path).endswith((".tar.gz", ".tgz")):
            tmp = path.with_name(path.name + ".part")
            with tarfile.open(tmp, "w:gz") as tar:
                for name, data in files.items():
                    info = tarfile.TarInfo(f"envdoctor-bundle/{name}")
                    info.size = len(data)
                    info.mtime = int(self.collected_at)
                    tar.addfile(info, io.BytesIO(data))
            tmp.replace(path)
            return
        for name, data in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def _files(self) -> dict[str, bytes]:
        manifest = {
            "format": "envdoctor-bundle/1",
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
        if not path.exists():
            raise UserError("no such file or directory", where=str(path))
        try:
            if path.is_dir():
                files = {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}
                return cls._from_files(files, str(path))
            if tarfile.is_tarfile(path):
                files = {}
                with tarfile.open(path) as tar:
                    for m in tar.getmembers():
                        if m.isfile():
                            name = m.name.split("/", 1)[1] if "/" in m.name else m.name
                            files[name] = tar.extractfile(m).read()
                return cls._from_files(files, str(path))
            if str(path).endswith((".tar.gz", ".tgz")):  # a damaged bundle, not a paste to scan
                raise UserError("not a readable bundle tarball", where=str(path))
            from envdoctor.parsers.paste import read_paste  # UTF-16/32 BOMs, size cap, empty/binary refused

            text, notes = read_paste(path)
        except (OSError, tarfile.TarError, EOFError) as e:
            raise UserError(f"cannot read: {e}", where=str(path)) from None
        return cls(host=path.name, pastes=[text], notes=notes)

    @classmethod
    def _from_files(cls, files: dict[str, bytes], where: str) -> "Bundle":
        if "manifest.json" not in files:
            raise UserError("not an envdoctor bundle (no manifest.json)", where=where)
        try:
            manifest = json.loads(files["manifest.json"])
        except ValueError as e:
            raise UserError(f"manifest.json does not parse: {e}", where=where) from None
        sections = {}
        for n, meta in manifest.get("sections", {}).items():
            sections[n] = Section(
                cmd=meta.get("cmd", ""),
                rc=meta.get("rc"),
                secs=meta.get("secs", 0.0),
                error=meta.get("error"),
                stdout=files.get(f"sections/{n}.txt", b"").decode("utf-8", "replace"),
                stderr=files.get(f"sections/{n}.stderr.txt", b"").decode("utf-8", "replace"),
            )
        pastes = [files[k].decode("utf-8", "replace") for k in sorted(files) if k.startswith("pastes/")]
        return cls(
            host=manifest.get("host", "unknown"),
            collected_at=manifest.get("collected_at", 0.0),
            probe_version=manifest.get("probe_version"),
            sections=sections,
            pastes=pastes,
        )
