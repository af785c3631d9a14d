"""YAML with line numbers: every mapping and list loaded here remembers where it started, so a
validation error can name `file:line` (PyYAML's marks are 0-based; we report 1-based lines)."""

from __future__ import annotations

from pathlib import Path

import yaml

from envdoctor.errors import UserError


class LineDict(dict):
    """A dict that knows the line of itself (`__line__`) and of each key (`key_lines`)."""

    __line__: int = 0
    key_lines: dict


class LineList(list):
    __line__: int = 0
    item_lines: list


# A playbook nests a few levels and uses few aliases; past these a document is an attack or a mistake
# (a 10,000-deep list overflows the recursive composer, a billion-laughs document expands aliases into
# gigabytes further on), refused at its line before anything is built.
MAX_DEPTH = 100
MAX_EXPANDED_NODES = 100_000


class _Refused(yaml.MarkedYAMLError):
    """A document past our bounds (not a syntax error): said as such, at its line."""


class _Loader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        if self._aliases:
            _expanded_size(node, {}, set(), 0)
        return super().construct_document(node)


def _expanded_size(node, memo: dict, active: set, depth: int) -> int:
    """How many values `node` becomes once every alias in it is expanded (memoized per node, so this
    costs one visit per node however large the expansion)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, yaml.ScalarNode):
        return 1
    if key in active:
        raise _Refused(None, None, "an alias refers to a node that contains it", node.start_mark)
    if depth > 2 * MAX_DEPTH:
        raise _Refused(None, None, f"nested deeper than {2 * MAX_DEPTH} levels through aliases", node.start_mark)
    active.add(key)
    children = node.value if isinstance(node, yaml.SequenceNode) else [x for kv in node.value for x in kv]
    total = 1
    for child in children:
        total += _expanded_size(child, memo, active, depth + 1)
        if total > MAX_EXPANDED_NODES:
            raise _Refused(None, None, f"aliases expand this to more than {MAX_EXPANDED_NODES} values; refused",
                           node.start_mark)
    active.discard(key)
    memo[key] = total
    return total


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    # A key written twice would silently lose its first value (a task with two modules runs only one);
    # checked before merge keys (`<<`) are flattened in, since those may be overridden on purpose.
    seen: set = set()
    for key_node, _value in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key_node.value}'",
                                                        key_node.start_mark)
            seen.add(key_node.value)
    loader.flatten_mapping(node)
    d = LineDict()
    d.__line__ = node.start_mark.line + 1
    d.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark) from None
        d[key] = loader.construct_object(value_node, deep=True)
        d.key_lines[key] = key_node.start_mark.line + 1
    return d


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    lst = LineList(loader.construct_object(child, deep=True) for child in node.value)
    lst.__line__ = node.start_mark.line + 1
    lst.item_lines = [child.start_mark.line + 1 for child in node.value]
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path):
    """Parse a YAML file; a syntax error is a UserError naming file:line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", where=str(path)) from None
    except UnicodeDecodeError as e:
        raise UserError(f"not UTF-8 text (byte {e.start})", where=str(path)) from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, path: str):
    """Parse YAML text (`path` names it in messages), with the same bounds as a file."""
    try:
        return _bounded(lambda t: yaml.load(t, Loader=_Loader), text, path)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"{path}:{mark.line + 1}" if mark else str(path)
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise UserError(f"YAML syntax error: {what}", where=line) from None
    except yaml.YAMLError as e:
        raise UserError(f"YAML error: {e}", where=str(path)) from None


def load_yaml_value(text: str, where: str):
    """A value typed as `name=value`: its YAML value, or the text itself when it is not YAML (as Ansible
    takes it); past the bounds a UserError all the same."""
    try:
        return _bounded(lambda t: yaml.load(t, Loader=_Loader), text, where)  # noqa: S506
    except yaml.YAMLError:
        return text


def compose_yaml_text(text: str, path: str):
    """The node tree of YAML text (for readers that walk nodes for their lines), within the same bounds;
    a syntax error is raised as PyYAML's own, for the caller to word."""
    def compose(t):
        loader = _Loader(t)
        try:
            node = loader.get_single_node()
            if node is not None and loader._aliases:
                _expanded_size(node, {}, set(), 0)
            return node
        finally:
            loader.dispose()
    return _bounded(compose, text, path)


def _bounded(load, text: str, path: str):
    """`load(text)`, a document past our bounds being a UserError at its line."""
    try:
        return load(text)
    except _Refused as e:
        raise UserError(f"YAML refused: {e.problem}", where=f"{path}:{e.problem_mark.line + 1}") from None
    except RecursionError:  # a backstop: the depth bound comes first
        raise UserError("YAML nested too deeply", where=str(path)) from None


def line_of(obj, key=None, default: int = 0) -> int:
    """The line of a loaded mapping (or of one of its keys), or of a list item by index."""
    if isinstance(obj, LineDict):
        if key is not None and key in obj.key_lines:
            return obj.key_lines[key]
        return obj.__line__
    if isinstance(obj, LineList):
        if isinstance(key, int) and 0 <= key < len(obj.item_lines):
            return obj.item_lines[key]
        return obj.__line__
    return default
