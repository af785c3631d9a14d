"""The scripts sent to targets, assembled from their parts. The probe (envdoctor/probe/script/) and the proof
script (envdoctor/proof/script/) are each written as a package of small modules, one role each, that import
one another (`from .section import text`) and the standard library, so each part can be read and tested on
its own. A target runs none of that: it gets one self-contained file on stdin. `assemble(package)` writes it:
the package's docstring as the header comment, every part's standard-library imports once, then each part's
code in the order of the package's `PARTS`, its imports of earlier parts left out (in one file they are one
namespace).

What makes that sound is checked here, on every build, so a part that breaks it is a bug with a name:
a part imports the standard library and earlier parts only (no cycle, and the order is the definition
order), imports a part's names without renaming them, defines no name another part defines, and only the
last part holds the `if __name__ == "__main__":` block. Imports inside functions (torch in a worker) stay
where they are. The vocabulary is written in afterwards (envdoctor/vocabulary.py)."""

from __future__ import annotations

import ast
import importlib
import sys
from importlib.resources import files


class PartError(RuntimeError):
    """A part breaks a rule of assembly: a bug of ours, raised when the package is built."""


def _docstring_lines(tree: ast.Module) -> tuple[str | None, range]:
    """The module's docstring and the source lines it spans (1-based), or (None, empty range)."""
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.value.value, range(first.lineno, first.end_lineno + 1)
    return None, range(0)


def _comment(text: str) -> list[str]:
    return [("# " + line).rstrip() for line in text.strip("\n").split("\n")]


def _defined(node: ast.stmt) -> list[str]:
    """The module-level names a statement defines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _is_main_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))


def _stdlib(module: str, where: str) -> str:
    root = module.split(".")[0]
    if root == "__future__" or root not in sys.stdlib_module_names:
        raise PartError(f"{where}: imports {module} at module level; a part imports the standard library and "
                        f"earlier parts only (others inside the function that needs them)")
    return root


def assemble(package: str) -> str:
    """The one script the parts of `package` make, without its vocabulary (its `VOCABULARY = None` line kept)."""
    pkg = importlib.import_module(package)
    parts: tuple[str, ...] = pkg.PARTS
    header = _comment(pkg.__doc__ or "")
    imports: dict[str, str] = {}  # import line -> the name it binds
    owner: dict[str, str] = {}  # name -> the part that defines it
    bodies: list[list[str]] = []
    for i, part in enumerate(parts):
        where = f"{package}.{part}"
        source = files(package).joinpath(f"{part}.py").read_text()
        tree = ast.parse(source)
        lines = source.split("\n")
        doc, doc_lines = _docstring_lines(tree)
        drop = set(doc_lines)
        for node in tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    _stdlib(a.name, where)
                    line = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                    imports[line] = a.asname or a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                _stdlib(node.module or "", where)
                for a in node.names:
                    line = f"from {node.module} import {a.name}" + (f" as {a.asname}" if a.asname else "")
                    imports[line] = a.asname or a.name
            elif isinstance(node, ast.ImportFrom):
                if node.level != 1 or node.module not in parts[:i]:
                    raise PartError(f"{where}: imports .{node.module or ''}; a part imports only earlier parts of "
                                    f"{package} ({', '.join(parts[:i]) or 'none before it'})")
                for a in node.names:
                    if a.asname or owner.get(a.name) != node.module:
                        raise PartError(f"{where}: imports {a.name}{' as ' + a.asname if a.asname else ''} from "
                                        f".{node.module}, which does not define it under that name")
            else:
                if _is_main_block(node) and i != len(parts) - 1:
                    raise PartError(f"{where}: only the last part may run the script (`if __name__ == ...`)")
                for name in _defined(node):
                    if owner.setdefault(name, part) != part:
                        raise PartError(f"{where}: defines {name}, which {package}.{owner[name]} defines too")
                continue
            drop.update(range(node.lineno, node.end_lineno + 1))
        kept = [line for n, line in enumerate(lines, 1) if n not in drop]
        while kept and not kept[0].strip():
            kept.pop(0)
        while kept and not kept[-1].strip():
            kept.pop()
        path = package.replace(".", "/") + f"/{part}.py"
        rule = f"# ---- {path} " + "-" * max(4, 103 - len(path))
        bodies.append([rule] + (_comment(doc) if doc else []) + [""] + kept)
    clash = sorted(n for n in set(imports.values()) if n in owner)
    if clash:
        raise PartError(f"{package}: {', '.join(clash)} both imported and defined at module level")
    plain = sorted(line for line in imports if line.startswith("import "))
    froms = sorted(line for line in imports if line.startswith("from "))
    out = header + plain + froms
    for body in bodies:
        out += ["", ""] + body
    return "\n".join(out) + "\n"
