"""The `when:` and `{{ }}` expression language: small, safe, no eval.

An expression is parsed by Python's `ast` in "eval" mode and then *walked* here, node by node, against
a whitelist; anything not listed (calls of arbitrary functions, lambdas, comprehensions, attribute
names starting with `_`, ...) is rejected before it runs. Names resolve only in the context we build:
`facts`, `check`, `checks`, `host`, `derived` and the play's variables. See playbooks/README.md.
"""

from __future__ import annotations

import ast
import re
import shlex
from typing import Any

from pydantic import BaseModel


class ExprError(Exception):
    """An expression that does not parse, uses something not allowed, or names something unknown."""


class ValueTooLarge(ExprError):
    """A rendered value past MAX_VALUE_CHARS: `{{ prev + prev }}` chains double a string per variable."""


MAX_VALUE_CHARS = 1 << 20  # a rendered value (a path, a line, a file's content) is never near a MiB
MAX_INT = 1 << 64


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ValueTooLarge(f"a rendered value is longer than {MAX_VALUE_CHARS} characters; refused")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ValueTooLarge("a rendered number is larger than 2**64; refused")
    return value


class _Undefined:
    """What a missing name or key evaluates to inside `is defined` / `default()`; anywhere else it is an error."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self):
        return f"undefined({self.what})"


_CONSTANT_NAMES = {"true": True, "false": False, "True": True, "False": False, "null": None, "None": None, "none": None}
_CMP = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def _fn_default(value, fallback=""):
    return fallback if isinstance(value, _Undefined) or value is None else value


_FUNCTIONS = {
    "default": _fn_default,
    "int": int,
    "str": str,
    "len": len,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "quote": lambda s: shlex.quote(str(s)),  # a value inside a shell line (unless/onlyif/cmd)
}


def _get(obj: Any, key: Any, what: str) -> Any:
    if isinstance(obj, _Undefined):
        return _Undefined(what)
    if isinstance(key, str) and key.startswith("_"):
        raise ExprError(f"{what}: names starting with '_' are not allowed")
    if isinstance(obj, dict):
        return obj[key] if key in obj else _Undefined(what)
    if isinstance(obj, BaseModel):
        if isinstance(key, str) and key in type(obj).model_fields:
            return getattr(obj, key)
        return _Undefined(what)
    if isinstance(obj, (list, tuple, str)) and isinstance(key, int):
        return obj[key] if -len(obj) <= key < len(obj) else _Undefined(what)
    return _Undefined(what)


class _Eval:
    def __init__(self, context: dict[str, Any], source: str):
        self.ctx = context
        self.source = source

    def strict(self, value: Any) -> Any:
        if isinstance(value, _Undefined):
            raise ExprError(f"'{value.what}' is not defined")
        return value

    def visit(self, node: ast.AST) -> Any:
        meth = getattr(self, "v_" + type(node).__name__, None)
        if meth is None:
            raise ExprError(f"'{type(node).__name__}' is not allowed in an expression")
        return meth(node)

    def v_Expression(self, n):
        return self.strict(self.visit(n.body))

    def v_Constant(self, n):
        if not isinstance(n.value, (str, int, float, bool, type(None))):
            raise ExprError(f"literal {n.value!r} is not allowed")
        return n.value

    def v_Name(self, n):
        if n.id in _CONSTANT_NAMES:
            return _CONSTANT_NAMES[n.id]
        if n.id.startswith("_"):
            raise ExprError(f"{n.id}: names starting with '_' are not allowed")
        return self.ctx[n.id] if n.id in self.ctx else _Undefined(n.id)

    def _dotted(self, n) -> str:
        return ast.unparse(n)

    def v_Attribute(self, n):
        return _get(self.visit(n.value), n.attr, self._dotted(n))

    def v_Subscript(self, n):
        key = self.strict(self.visit(n.slice))
        return _get(self.visit(n.value), key, self._dotted(n))

    def v_List(self, n):
        return [self.strict(self.visit(e)) for e in n.elts]

    v_Tuple = v_List

    def v_BoolOp(self, n):
        if isinstance(n.op, ast.And):
            val = True
            for e in n.values:
                val = self.strict(self.visit(e))
                if not val:
                    return val
            return val
        val = False
        for e in n.values:
            val = self.strict(self.visit(e))
            if val:
                return val
        return val

    def v_UnaryOp(self, n):
        val = self.strict(self.visit(n.operand))
        if isinstance(n.op, ast.Not):
            return not val
        if isinstance(n.op, ast.USub) and isinstance(val, (int, float)):
            return -val
        raise ExprError(f"operator '{ast.unparse(n)}' is not allowed")

    def v_BinOp(self, n):
        # `+` only: joining strings and paths in templates ("/usr/local/cuda-" + version).
        if not isinstance(n.op, ast.Add):
            raise ExprError(f"operator in '{ast.unparse(n)}' is not allowed (only +)")
        a, b = self.strict(self.visit(n.left)), self.strict(self.visit(n.right))
        if isinstance(a, str) or isinstance(b, str):
            a, b = str(a), str(b)  # as f"{a}{b}" would, but measured before it is built
            if len(a) + len(b) > MAX_VALUE_CHARS:
                raise ValueTooLarge(f"a rendered value is longer than {MAX_VALUE_CHARS} characters; refused")
            return a + b
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return _bounded(a + b)
        raise ExprError(f"cannot add {type(a).__name__} and {type(b).__name__}")

    def v_Compare(self, n):
        left = self.visit(n.left)
        for op, right_node in zip(n.ops, n.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)):
                # Only the tests `x is defined`, `x is not defined`, `x is none`, `x is not none`.
                if not isinstance(right_node, (ast.Name, ast.Constant)):
                    raise ExprError("'is' takes only 'defined' or 'none'")
                test = right_node.id if isinstance(right_node, ast.Name) else repr(right_node.value)
                if test == "defined":
                    ok = not isinstance(left, _Undefined)
                elif test in ("none", "None", "null"):
                    ok = self.strict(left) is None
                else:
                    raise ExprError(f"unknown test 'is {test}' (use 'defined' or 'none')")
                ok = (not ok) if isinstance(op, ast.IsNot) else ok
                if not ok:
                    return False
                left = ok
                continue
            fn = _CMP.get(type(op))
            if fn is None:
                raise ExprError("comparison operator not allowed")
            a, b = self.strict(left), self.strict(self.visit(right_node))
            if a is None or b is None:
                # None is "not known": it equals only None, and is never <, >, or in anything.
                ok = (a is b) if isinstance(op, ast.Eq) else (a is not b) if isinstance(op, ast.NotEq) else False
            else:
                try:
                    ok = fn(a, b)
                except TypeError as e:
                    raise ExprError(f"cannot compare: {e}") from None
            if not ok:
                return False
            left = b
        return True

    def v_Call(self, n):
        if not isinstance(n.func, ast.Name) or n.func.id not in _FUNCTIONS or n.keywords:
            raise ExprError(f"only these functions may be called: {', '.join(sorted(_FUNCTIONS))}")
        args = [self.visit(a) for a in n.args]
        if n.func.id != "default":
            args = [self.strict(a) for a in args]
        try:
            return _FUNCTIONS[n.func.id](*args)
        except (TypeError, ValueError, OverflowError) as e:  # int(1e999) overflows
            raise ExprError(f"{n.func.id}(): {e}") from None

    def v_IfExp(self, n):
        return self.strict(self.visit(n.body)) if self.strict(self.visit(n.test)) else self.strict(self.visit(n.orelse))


def parse(source: str) -> ast.Expression:
    """Parse and validate (node kinds only) without evaluating: used when a playbook is loaded."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"cannot parse expression {source!r}: {e.msg}") from None
    except (MemoryError, RecursionError):  # CPython's parser gives up on very deep nesting this way
        raise ExprError(f"expression nested too deeply: {source[:60]!r}...") from None
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.List, ast.Tuple,
               ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp, ast.Add, ast.Compare,
               ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
               ast.Call, ast.IfExp, ast.Load)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ExprError(f"'{type(node).__name__}' is not allowed in expression {source!r}")
        if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS):
            raise ExprError(f"calling {ast.unparse(node.func)}() is not allowed in expression {source!r} "
                            f"(only: {', '.join(sorted(_FUNCTIONS))})")
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name.startswith("_"):
                raise ExprError(f"{name}: names starting with '_' are not allowed")
    return tree


def evaluate(source: str, context: dict[str, Any]) -> Any:
    tree = parse(source)
    try:
        return _Eval(context, source).visit(tree)
    except RecursionError:
        raise ExprError(f"expression nested too deeply: {source[:60]!r}...") from None


def truth(source: str | bool | list, context: dict[str, Any]) -> bool:
    """A `when:` value: an expression, a bool, or a list of expressions that must all hold."""
    if isinstance(source, bool):
        return source
    if isinstance(source, list):
        return all(truth(s, context) for s in source)
    return bool(evaluate(str(source), context))


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
