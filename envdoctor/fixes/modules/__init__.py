"""The fix modules, by name (the key a task uses)."""

from envdoctor.fixes.modules.base import FileDiff, Module, Plan
from envdoctor.fixes.modules.command import Command
from envdoctor.fixes.modules.fail import Fail
from envdoctor.fixes.modules.files import BlockInFile, Copy, JsonMerge, LineInFile, Symlink
from envdoctor.fixes.modules.manual import Manual
from envdoctor.fixes.modules.mount import Mount
from envdoctor.fixes.modules.package import Package
from envdoctor.fixes.modules.proof import Proof
from envdoctor.fixes.modules.service import Service

MODULES: dict[str, Module] = {m.name: m for m in (LineInFile(), BlockInFile(), Copy(), JsonMerge(), Symlink(),
                                                   Command(), Service(), Package(), Mount(), Proof(),
                                                   Fail(), Manual())}

__all__ = ["MODULES", "Module", "Plan", "FileDiff"]
