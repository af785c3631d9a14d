"""Playbooks: a YAML list of plays (or `import_playbook:` items), validated into pydantic models.

Every error a user can make in a playbook is a UserError naming `file:line` and what was expected:
YAML syntax, an unknown module or keyword, wrong module arguments, an expression that does not parse.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

import envdoctor
from envdoctor.errors import UserError
from envdoctor.fixes.expr import ExprError, ValueTooLarge, parse, render, template_expressions
from envdoctor.fixes.modules import MODULES
from envdoctor.yamlload import LineDict, line_of, load_yaml, load_yaml_text, load_yaml_value

TASK_KEYWORDS = {"name", "when", "notify", "tags", "become", "ignore_errors", "listen"}
PLAY_KEYWORDS = {"name", "hosts", "vars", "tasks", "handlers", "gather_facts", "become", "tags"}


class Task(BaseModel):
    name: str
    module: str
    args: dict[str, Any]
    when: list[str | bool] = Field(default_factory=list)  # all must hold
    notify: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    become: bool | None = None
    ignore_errors: bool = False
    listen: list[str] = Field(default_factory=list)  # handlers: other names it answers to
    where: str = ""  # file:line, for messages


class Play(BaseModel):
    name: str
    hosts: str = "all"
    vars: dict[str, Any] = Field(default_factory=dict)
    tasks: list[Task] = Field(default_factory=list)
    handlers: list[Task] = Field(default_factory=list)
    gather_facts: bool = True
    become: bool = False
    where: str = ""


class Playbook(BaseModel):
    path: str
    plays: list[Play]

    @property
    def name(self) -> str:
        return Path(self.path).name


def builtin_playbooks_dir() -> Path:
    """`envdoctor/playbooks` inside an installed wheel, else the repository's `playbooks/`."""
    pkg = Path(envdoctor.__file__).resolve().parent
    for cand in (pkg / "playbooks", pkg.parent / "playbooks"):
        if cand.is_dir() and any(cand.glob("*.yml")):
            return cand
    raise RuntimeError("the shipped playbooks (playbooks/) are missing from this installation")


def find_playbook(name: str) -> Path:
    """A path as given, else a shipped playbook by name ("shm.yml" or "shm")."""
    p = Path(name)
    if p.is_file():
        return p
    base = builtin_playbooks_dir()
    for cand in (base / name, base / f"{name}.yml"):
        if cand.is_file():
            return cand
    raise UserError(f"no such playbook (not a file, nor one of the shipped: "
                    f"{', '.join(sorted(x.name for x in base.glob('*.yml')))})", where=name)


def _as_list(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _check_expr(src: str, where: str) -> None:
    try:
        parse(src)
    except ExprError as e:
        raise UserError(str(e), where=where) from None


def _validation_message(e: ValidationError) -> tuple[tuple, str]:
    err = e.errors()[0]
    loc = tuple(err.get("loc", ()))
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        msg = "unknown argument"
    elif err.get("type") == "missing":
        msg = "required argument missing"
    return loc, msg


def validate_args(module: str, args: dict, where: str):
    """Typed module arguments; a UserError naming the argument when they are wrong."""
    try:
        return MODULES[module].Args.model_validate(args)
    except ValidationError as e:
        loc, msg = _validation_message(e)
        name = ".".join(str(x) for x in loc)
        raise UserError(f"{module}: {name + ': ' if name else ''}{msg}", where=where) from None


def _task(node, path: str, is_handler: bool) -> Task:
    where = f"{path}:{line_of(node)}"
    if not isinstance(node, dict):
        raise UserError(f"expected a task (a mapping with a module), got {type(node).__name__}", where=where)
    modules = [k for k in node if k not in TASK_KEYWORDS]
    for k in modules:
        if k not in MODULES:
            raise UserError(f"unknown module or keyword {k!r} (modules: {', '.join(sorted(MODULES))}; keywords: "
                            f"{', '.join(sorted(TASK_KEYWORDS))})", where=f"{path}:{line_of(node, k)}")
    if len(modules) != 1:
        raise UserError(f"a task needs exactly one module, found {len(modules)}"
                        + (f" ({', '.join(modules)})" if modules else ""), where=where)
    module = modules[0]
    args = node[module] if node[module] is not None else {}
    if isinstance(args, str) and module == "command":
        args = {"cmd": args}  # `command: some shell line`, as in Ansible
    if not isinstance(args, dict):
        raise UserError(f"{module}: expected a mapping of arguments", where=f"{path}:{line_of(node, module)}")
    args_where = f"{path}:{line_of(node, module)}"
    for expr in template_expressions(args):
        _check_expr(expr, args_where)
    if not template_expressions(args):  # templated args are validated once rendered, on the host
        try:
            MODULES[module].Args.model_validate(args)
        except ValidationError as e:
            loc, msg = _validation_message(e)
            line = line_of(args, loc[0]) if loc and isinstance(args, LineDict) else line_of(node, module)
            name = ".".join(str(x) for x in loc)
            raise UserError(f"{module}: {name + ': ' if name else ''}{msg}", where=f"{path}:{line}") from None
    when = _as_list(node.get("when"))
    for w in when:
        if not isinstance(w, (str, bool)):
            raise UserError("when: expected an expression (text) or a list of them", where=f"{path}:{line_of(node, 'when')}")
        if isinstance(w, str):
            _check_expr(w, f"{path}:{line_of(node, 'when')}")
    for key, typ in (("ignore_errors", bool), ("become", bool)):
        if key in node and not isinstance(node[key], typ):
            raise UserError(f"{key}: expected true or false", where=f"{path}:{line_of(node, key)}")
    name = node.get("name") or f"{module}"
    if is_handler and not node.get("name"):
        raise UserError("a handler needs a `name` (tasks notify it by name)", where=where)
    return Task(name=str(name), module=module, args=dict(args), when=when,
                notify=[str(x) for x in _as_list(node.get("notify"))], tags=[str(x) for x in _as_list(node.get("tags"))],
                become=node.get("become"), ignore_errors=bool(node.get("ignore_errors", False)),
                listen=[str(x) for x in _as_list(node.get("listen"))], where=where)


def _vars_within_bounds(vars_node, path: str) -> None:
    """Render, now, the play variables that need nothing from a host (constants and other such
    variables): one that grows past the size bound is a mistake of the playbook, refused at its line."""
    known: dict = {}
    for k, v in (vars_node or {}).items():
        try:
            known[k] = render(v, known)
        except ValueTooLarge as e:
            raise UserError(f"vars: {k}: {e}", where=f"{path}:{line_of(vars_node, k)}") from None
        except ExprError:
            continue  # needs facts, checks or -e values: rendered on each host


def _play(node, path: str) -> Play:
    where = f"{path}:{line_of(node)}"
    for k in node:
        if k not in PLAY_KEYWORDS:
            hint = " (a task? put it under `tasks:`)" if k in MODULES else ""
            raise UserError(f"unknown play keyword {k!r}{hint} (expected: {', '.join(sorted(PLAY_KEYWORDS))})",
                            where=f"{path}:{line_of(node, k)}")
    for key in ("tasks", "handlers"):
        if key in node and not isinstance(node[key], list) and node[key] is not None:
            raise UserError(f"{key}: expected a list of tasks", where=f"{path}:{line_of(node, key)}")
    if "vars" in node and not isinstance(node["vars"], dict) and node["vars"] is not None:
        raise UserError("vars: expected a mapping", where=f"{path}:{line_of(node, 'vars')}")
    vars_ = dict(node.get("vars") or {})
    for v in vars_.values():
        for expr in template_expressions(v):
            _check_expr(expr, f"{path}:{line_of(node, 'vars')}")
    _vars_within_bounds(node.get("vars"), path)
    tasks = [_task(t, path, False) for t in node.get("tasks") or []]
    handlers = [_task(t, path, True) for t in node.get("handlers") or []]
    play_tags = [str(x) for x in _as_list(node.get("tags"))]
    for t in tasks:
        t.tags = play_tags + t.tags
    names = {h.name for h in handlers} | {n for h in handlers for n in h.listen}
    for t in tasks + handlers:
        for n in t.notify:
            if n not in names:
                raise UserError(f"notify: no handler named {n!r} in this play", where=t.where)
    return Play(name=str(node.get("name") or Path(path).stem), hosts=str(node.get("hosts", "all")), vars=vars_,
                tasks=tasks, handlers=handlers, gather_facts=bool(node.get("gather_facts", True)),
                become=bool(node.get("become", False)), where=where)


# Imports form a graph: a file that imports the next one twice, 20 deep, names 2**20 plays. Each file is
# read once per load; the plays it brings in are copied per import, and their total is capped.
MAX_PLAYS = 1_000
MAX_IMPORT_DEPTH = 50


def load_playbook(path: str | Path) -> Playbook:
    return Playbook(path=str(path), plays=_load_plays(Path(path), (), {}))


def _load_plays(path: Path, stack: tuple, loaded: dict) -> list[Play]:
    """The plays of one file, imports expanded; `loaded` holds each file's plays already read."""
    doc = load_yaml(path)
    if not isinstance(doc, list) or not doc:
        raise UserError("expected a list of plays (each with `tasks:`) or `- import_playbook: FILE` items",
                        where=f"{path}:{line_of(doc, default=1) or 1}")
    plays: list[Play] = []
    for node in doc:
        where = f"{path}:{line_of(node)}"
        if not isinstance(node, dict):
            raise UserError(f"expected a play (a mapping), got {type(node).__name__}", where=where)
        if "import_playbook" in node:
            extra = set(node) - {"import_playbook", "when", "tags", "name", "vars"}
            if extra:
                raise UserError(f"import_playbook takes only when/tags/vars, not {', '.join(sorted(extra))}", where=where)
            sub = path.parent / str(node["import_playbook"])
            if not sub.is_file():
                raise UserError(f"import_playbook: no such file {sub}", where=where)
            key = sub.resolve()
            if key in stack or key == path.resolve():
                raise UserError(f"import_playbook: {sub} imports itself", where=where)
            if len(stack) >= MAX_IMPORT_DEPTH:
                raise UserError(f"import_playbook: imports nested deeper than {MAX_IMPORT_DEPTH} files", where=where)
            when = _as_list(node.get("when"))
            for w in when:
                if isinstance(w, str):
                    _check_expr(w, where)
            tags = [str(x) for x in _as_list(node.get("tags"))]
            if key not in loaded:
                loaded[key] = _load_plays(sub, stack + (path.resolve(),), loaded)
            if len(plays) + len(loaded[key]) > MAX_PLAYS:
                raise UserError(f"import_playbook: the imports add up to more than {MAX_PLAYS} plays", where=where)
            for p in loaded[key]:
                p = p.model_copy(deep=True)  # each import gets its own when/tags/vars
                for t in p.tasks:
                    t.when = when + t.when
                    t.tags = tags + t.tags
                p.vars.update(node.get("vars") or {})
                plays.append(p)
            continue
        if len(plays) >= MAX_PLAYS:
            raise UserError(f"more than {MAX_PLAYS} plays", where=where)
        plays.append(_play(node, str(path)))
    return plays


def parse_extra_vars(items: list[str] | tuple[str, ...]) -> dict:
    """`--extra-vars` values, merged left to right: `k=v k2=v2` (each value read as YAML, so true, 3 and
    8G come out as a bool, an int and a string), a JSON/YAML mapping, or `@FILE` holding one."""
    out: dict = {}
    for item in items:
        item = item.strip()
        if item.startswith("@"):
            doc = load_yaml(Path(item[1:]))
            if not isinstance(doc, dict):
                raise UserError("extra vars file must hold a mapping", where=item[1:])
            out.update(doc)
        elif item.startswith("{"):
            doc = load_yaml_text(item, "--extra-vars")
            if not isinstance(doc, dict):
                raise UserError("--extra-vars: expected a mapping")
            out.update(doc)
        else:
            for tok in shlex.split(item):
                k, eq, v = tok.partition("=")
                if not eq or not k.isidentifier():
                    raise UserError(f"--extra-vars: expected name=value, got {tok!r}")
                out[k] = load_yaml_value(v, f"--extra-vars {k}") if v else ""
    return out
