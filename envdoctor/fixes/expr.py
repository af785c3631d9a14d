"""The `when:` and `{{ }}` expression language: Jinja2 expressions, as Ansible users write them, evaluated in
Jinja2's SandboxedEnvironment and narrowed to what a playbook needs (see playbooks/README.md).

An expression is parsed by Jinja2 and its tree checked against a whitelist before anything runs: literals,
names, `.`/`[]`, `and`/`or`/`not`, comparisons, `+`, unary `-`, `a if c else b`, the tests `defined` and
`none`, and calls of the functions below (also as filters: `x | default(0)`). Anything else (other operators,
filters or functions, names starting with `_`, method calls) is refused when the playbook is loaded.

Three rules Jinja2 does not have are kept from the language the shipped playbooks were written in:
- `.` and `[]` reach only a model's fields, a mapping's keys and a list's items (never a method);
- `none` (a fact that is not known) equals only `none` and is never `<`, `>` or `in` anything;
- `+` joins a string with anything (as text), and no value grows past MAX_VALUE_CHARS or 2**64.
The tree is rewritten so that those go through `_get`, `_compare` and `call_binop` below.
"""

from __future__ import annotations

import math
import operator
import re
import shlex
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer
from pydantic import BaseModel


class ExprError(Exception):
    """An expression that does not parse, uses something not allowed, or names something unknown."""


class ValueTooLarge(ExprError):
    """A rendered value past MAX_VALUE_CHARS: `{{ prev + prev }}` chains double a string per variable."""


MAX_VALUE_CHARS = 1 << 20  # a rendered value (a path, a line, a file's content) is never near a MiB
MAX_INT = 1 << 64
MAX_EXPR_CHARS = 10_000  # an expression is a line or a few; Jinja2's parser takes ~15 us a character


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ValueTooLarge(f"a rendered value is longer than {MAX_VALUE_CHARS} characters; refused")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ValueTooLarge("a rendered number is larger than 2**64; refused")
    return value


class _Undefined(StrictUndefined):
    """A name, field or key that does not exist. Our choice over Jinja2's default (an empty string, false):
    strict, so that anywhere but `is defined` and `default()` it is an error naming it ("'check.memlok' is not
    defined"): a misspelt check id must stop the task, not silently skip or run it."""

    def __init__(self, hint: str | None = None, obj: Any = missing, name: str | None = None, exc=UndefinedError):
        super().__init__(hint or (f"'{name}' is not defined" if name else None), obj, name, exc)


def _strict(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def default(value: Any, fallback: Any = "") -> Any:
    return fallback if isinstance(value, Undefined) or value is None else value


def lower(value: Any) -> str:
    return str(value).lower()


def upper(value: Any) -> str:
    return str(value).upper()


def quote(value: Any) -> str:
    """A value inside a shell line (unless/onlyif/cmd)."""
    return shlex.quote(str(value))


# The functions a playbook may call, as `name(x)` and as the filter `x | name`.
_FUNCTIONS = {"default": default, "int": int, "str": str, "len": len, "lower": lower, "upper": upper, "quote": quote}


def _is_none(value: Any) -> bool:
    return _strict(value) is None


_TESTS = {"defined": lambda v: not isinstance(v, Undefined), "none": _is_none, "None": _is_none, "null": _is_none}


def _get(obj: Any, key: Any, what: str) -> Any:
    """`obj.key` / `obj[key]`: a model's field, a mapping's key, a list's item; anything else is undefined."""
    if isinstance(obj, Undefined):
        return _Undefined(name=what)
    key = _strict(key)
    if isinstance(key, str) and key.startswith("_"):
        raise ExprError(f"{what}: names starting with '_' are not allowed")
    if isinstance(obj, dict):
        return obj[key] if key in obj else _Undefined(name=what)
    if isinstance(obj, BaseModel):
        if isinstance(key, str) and key in type(obj).model_fields:
            return getattr(obj, key)
        return _Undefined(name=what)
    if isinstance(obj, (list, tuple, str)) and isinstance(key, int) and not isinstance(key, bool):
        return obj[key] if -len(obj) <= key < len(obj) else _Undefined(name=what)
    return _Undefined(name=what)


_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lteq": operator.le, "gt": operator.gt,
            "gteq": operator.ge, "in": lambda a, b: a in b, "notin": lambda a, b: a not in b}


def _compare(a: Any, op: str, b: Any) -> bool:
    a, b = _strict(a), _strict(b)
    if a is None or b is None:
        # None is "not known": it equals only None, and is never <, >, or in anything.
        return (a is b) if op == "eq" else (a is not b) if op == "ne" else False
    try:
        return _COMPARE[op](a, b)
    except TypeError as e:
        raise ExprError(f"cannot compare: {e}") from None


def _dotted(node: nodes.Node) -> str:
    """How a reference reads in the playbook, for the message when it is not defined."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        key = repr(node.arg.value) if isinstance(node.arg, nodes.Const) else "..."
        return f"{_dotted(node.node)}[{key}]"
    return "(...)"


_ALLOWED = (nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem, nodes.List, nodes.Tuple, nodes.And, nodes.Or,
            nodes.Not, nodes.Neg, nodes.Add, nodes.Compare, nodes.Operand, nodes.Test, nodes.Filter, nodes.Call,
            nodes.CondExpr)


def _check(tree: nodes.Expr, source: str) -> None:
    for node in [tree, *tree.find_all(nodes.Node)]:
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"'{type(node).__name__}' is not allowed in expression {source!r}")
        if isinstance(node, nodes.Const) and isinstance(node.value, float) and not math.isfinite(node.value):
            raise ExprError(f"number too large in expression {source!r}")  # 1e999: Jinja2 would compile `inf`
        name = node.name if isinstance(node, nodes.Name) else node.attr if isinstance(node, nodes.Getattr) else ""
        if name.startswith("_"):
            raise ExprError(f"{name}: names starting with '_' are not allowed")
        if isinstance(node, nodes.Name) and name == "self":  # Jinja2's reference to the template itself
            raise ExprError("'self' is reserved in expressions")
        if isinstance(node, (nodes.Call, nodes.Filter, nodes.Test)) and (node.kwargs or node.dyn_args or node.dyn_kwargs):
            raise ExprError(f"keyword or * arguments are not allowed in expression {source!r}")
        if isinstance(node, nodes.Call) and not (isinstance(node.node, nodes.Name) and node.node.name in _FUNCTIONS):
            raise ExprError(f"calling {_dotted(node.node)}() is not allowed in expression {source!r} "
                            f"(only: {', '.join(sorted(_FUNCTIONS))})")
        if isinstance(node, nodes.Filter) and node.name not in _FUNCTIONS:
            raise ExprError(f"unknown filter '{node.name}' (only: {', '.join(sorted(_FUNCTIONS))})")
        if isinstance(node, nodes.Test) and node.name not in _TESTS:
            raise ExprError(f"unknown test 'is {node.name}' (use 'defined' or 'none')")


class _Rewrite(NodeTransformer):
    """Routes `.`/`[]` through _get, comparisons through _compare, calls to the functions themselves."""

    def visit_Getattr(self, node: nodes.Getattr) -> nodes.Call:
        return self._call("_get", [self.visit(node.node), nodes.Const(node.attr), nodes.Const(_dotted(node))], node)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Call:
        return self._call("_get", [self.visit(node.node), self.visit(node.arg), nodes.Const(_dotted(node))], node)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Expr:
        # `a < b < c` is `a < b and b < c`, each pair through _compare (evaluated lazily, as Python's chain)
        left, out = self.visit(node.expr), None
        for o in node.ops:
            right = self.visit(o.expr)
            pair = self._call("_compare", [left, nodes.Const(o.op), right], node)
            out = pair if out is None else nodes.And(out, pair, lineno=node.lineno)
            left = right
        return out

    def visit_Call(self, node: nodes.Call) -> nodes.Call:
        # the function itself, not a lookup of its name: a play variable of that name cannot stand in for it
        fn = _FUNCTIONS[node.node.name]
        node.node = nodes.ImportedName(f"{fn.__module__}.{fn.__name__}", lineno=node.lineno)
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Name(self, node: nodes.Name) -> nodes.Expr:
        return nodes.Const(None, lineno=node.lineno) if node.name == "null" else node

    @staticmethod
    def _call(fn: str, args: list, at: nodes.Node) -> nodes.Call:
        return nodes.Call(nodes.ImportedName(f"{__name__}.{fn}", lineno=at.lineno), args, [], None, None,
                          lineno=at.lineno)


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"+"})

    def call_binop(self, context, op: str, a: Any, b: Any) -> Any:
        a, b = _strict(a), _strict(b)
        if isinstance(a, str) or isinstance(b, str):
            a, b = str(a), str(b)  # as f"{a}{b}" would, but measured before it is built
            if len(a) + len(b) > MAX_VALUE_CHARS:
                raise ValueTooLarge(f"a rendered value is longer than {MAX_VALUE_CHARS} characters; refused")
            return a + b
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return _bounded(a + b)
        raise ExprError(f"cannot add {type(a).__name__} and {type(b).__name__}")


_ENV = _Sandbox(undefined=_Undefined)
_ENV.globals.clear()  # no range(), dict(), lipsum(): a name resolves only in the context we build
_ENV.filters = dict(_FUNCTIONS)
_ENV.tests = dict(_TESTS)


@lru_cache(maxsize=256)
def parse(source: str) -> TemplateExpression:
    """Parse, check and compile without evaluating (used when a playbook is loaded, and cached: a string
    a playbook repeats through YAML aliases is compiled once)."""
    if len(source) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters: {source[:60]!r}...")
    try:
        parser = Parser(_ENV, source.strip(), state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            raise ExprError(f"cannot parse expression {source!r}: unexpected {parser.stream.current.value!r}")
        _check(tree, source)
        tree = _Rewrite().visit(tree)
        body = nodes.Template([nodes.Assign(nodes.Name("result", "store"), tree, lineno=1)], lineno=1)
        body.set_environment(_ENV)
        return TemplateExpression(_ENV.from_string(body), undefined_to_none=False)
    except TemplateError as e:
        raise ExprError(f"cannot parse expression {source!r}: {e.message}") from None
    except (MemoryError, RecursionError, SyntaxError):  # nested deeper than a parser or Python's compiler goes
        raise ExprError(f"expression nested too deeply: {source[:60]!r}...") from None


def evaluate(source: str, context: dict[str, Any]) -> Any:
    expr = parse(source)
    try:
        return _strict(expr(context))
    except TemplateError as e:  # an undefined name used, a refused call
        raise ExprError(e.message) from None
    except (TypeError, ValueError, OverflowError) as e:  # -"x", int("x"), int(1e999)
        raise ExprError(f"{source.strip()}: {e}") from None
    except RecursionError:
        raise ExprError(f"expression nested too deeply: {source[:60]!r}...") from None


def truth(source: str | bool | list, context: dict[str, Any]) -> bool:
    """A `when:` value: an expression, a bool, or a list of expressions that must all hold."""
    if isinstance(source, bool):
        return source
    if isinstance(source, list):
        return all(truth(s, context) for s in source)
    return bool(evaluate(str(source), context))


# `{{ expr }}` in a string, found here rather than by rendering the string as a Jinja2 template: a string
# that is one `{{ expr }}` keeps the value's type (a number, a mapping), each piece is measured as the
# whole grows, and `{%`/`{#` stay text (a shell line's `${#x}`; no loops to bound).
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Substitute `{{ expr }}` in strings, recursively through lists and dicts. A string that is one
    `{{ expr }}` and nothing else becomes the expression's value itself (a number, a dict...)."""
    if isinstance(value, str):
        m = _TEMPLATE.fullmatch(value.strip())
        if m and value.strip().count("{{") == 1:
            return _bounded(evaluate(m.group(1), context))
        out, size, pos = [], 0, 0
        for mm in _TEMPLATE.finditer(value):
            piece = _to_text(evaluate(mm.group(1), context))
            out += [value[pos:mm.start()], piece]
            size += mm.start() - pos + len(piece)
            pos = mm.end()
            if size > MAX_VALUE_CHARS:  # checked as it grows: many templates in one string add up too
                raise ValueTooLarge(f"a rendered value is longer than {MAX_VALUE_CHARS} characters; refused")
        out.append(value[pos:])
        return _bounded("".join(out))
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value


def _to_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def template_expressions(value: Any) -> list[str]:
    """Every `{{ expr }}` inside a value (to validate them when a playbook is loaded)."""
    if isinstance(value, str):
        return [m.group(1) for m in _TEMPLATE.finditer(value)]
    if isinstance(value, list):
        return [e for v in value for e in template_expressions(v)]
    if isinstance(value, dict):
        return [e for v in value.values() for e in template_expressions(v)]
    return []
