"""From what the user typed to a list of Targets: host, user@host[:port], ~/.ssh/config aliases,
Slurm-style ranges, @group, and Ansible INI/YAML or plain inventories (`-i FILE`), narrowed by --limit.

Pure but for reading the inventory and ssh_config files. Bad input raises UserError("...",
where="file:line").
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from envdoctor.errors import UserError
from envdoctor.hosts import hostrange
from envdoctor.hosts.targets import Target, this_machine_name
from envdoctor.yamlload import compose_yaml_text

DEFAULT_SSH_CONFIG = "~/.ssh/config"
LOCAL_NAMES = {"local", "@local"}  # the explicit way to name this machine without SSH

_HOST_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9_.\-:%\[\]]+$")  # a host name, IPv4 or IPv6 address
_ANSIBLE_RANGE = re.compile(r"\[([^\[\]]*)\]")


# --- Ansible host patterns: www[01:50].example.com, db-[a:f] -----------------------------------
def expand_ansible(pattern: str) -> list[str]:
    """Ansible's `[01:50]` (and `[1:9:2]`) is NodeSet's `[01-50]` (`[1-9/2]`); letters `[a:f]` are spelled
    out (NodeSet has no letter ranges). Capped like command-line ranges (hostrange.MAX_HOSTS, bounds of at
    most MAX_BOUND_DIGITS digits): the count is known before a single name is made."""
    literals, ranges, rest = [], [], pattern
    while m := _ANSIBLE_RANGE.search(rest):
        literals.append(rest[: m.start()])
        ranges.append(_ansible_runs(m.group(1), pattern))
        rest = rest[m.end():]
    return hostrange.names(literals + [rest], ranges, pattern)


def _ansible_runs(spec: str, pattern: str) -> hostrange.Runs:
    shown = hostrange.short(spec)
    bits = spec.split(":")
    if len(bits) not in (2, 3) or not bits[0] or not bits[1]:
        raise ValueError(f"bad host range [{shown}] (expected [start:end] or [start:end:step])")
    if len(bits) == 3 and not (hostrange.is_number(bits[2]) and len(bits[2]) <= hostrange.MAX_BOUND_DIGITS and int(bits[2])):
        raise ValueError(f"bad step in host range [{shown}]")
    lo, hi, step = bits[0], bits[1], int(bits[2]) if len(bits) == 3 else 1
    runs = hostrange.Runs()
    if hostrange.is_number(lo) and hostrange.is_number(hi):
        hostrange.check_bounds(lo, hi, pattern)  # HostRangeError is a ValueError
        hostrange.check_count(len(range(int(lo), int(hi) + 1, step)), pattern)
        if int(lo) <= int(hi):
            runs.add(lo, hi, step)
    elif len(lo) == 1 and len(hi) == 1 and lo.isalpha() and hi.isalpha():
        runs += [chr(c) for c in range(ord(lo), ord(hi) + 1, step)]
    else:
        raise ValueError(f"bad host range [{shown}]")
    if not runs:
        raise ValueError(f"host range [{shown}] is empty")
    return runs


# --- the inventory model ------------------------------------------------------------------------
# Groups nest as a graph, not a tree: a diamond of `:children` 24 layers deep has 2**24 paths. Every
# group's members and depth are computed once (so that work is linear in the file) and the total is
# capped: a group's members count against MAX_MEMBERSHIPS, with the children merged into it.
MAX_GROUPS = 100_000
MAX_MEMBERSHIPS = 2_000_000


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)
    member_set: set = field(default_factory=set, repr=False)  # `hosts` as a set: big groups are not O(n^2)
    where: str = ""  # file:line where the group first appears
    child_where: dict = field(default_factory=dict, repr=False)  # child -> file:line naming it


@dataclass
class Inventory:
    source: str
    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, dict] = field(default_factory=dict)  # every host, in file order
    plain: list[str] = field(default_factory=list)  # a plain file: target strings, resolved like CLI ones
    _membership: dict | None = field(default=None, repr=False)
    _members: dict | None = field(default=None, repr=False)  # group -> its hosts, children's included
    _depth: dict | None = field(default=None, repr=False)

    def group(self, name: str, where: str = "") -> Group:
        g = self.groups.get(name)
        if g is None:
            if len(self.groups) >= MAX_GROUPS:
                raise UserError(f"the inventory declares more than {MAX_GROUPS} groups", where=where or self.source)
            g = self.groups[name] = Group(name, where=where)
            self._members = self._membership = self._depth = None
        return g

    def add_child(self, parent: str, child: str, where: str) -> None:
        g = self.group(parent, where)
        if child not in g.child_where:
            g.children.append(child)
            g.child_where[child] = where
            self._members = self._membership = self._depth = None

    def add_host(self, name: str, group: str | None, hvars: dict) -> None:
        self.host_vars.setdefault(name, {}).update(hvars)
        g = self.group(group) if group else None
        if g is not None and name not in g.member_set:
            g.member_set.add(name)
            g.hosts.append(name)
            self._members = self._membership = None

    def members(self, group: str) -> list[str]:
        """Hosts of a group and of its children, recursively (`all`: every host)."""
        if group == "all":
            return list(self.host_vars)
        if self._members is None:
            self._members = self._expand()
        return list(self._members.get(group, ()))

    def _order(self) -> list[str]:
        """Every group, children before their parents; a cycle is a UserError naming it and its line.
        Iterative: 20,000 groups nested one in the next must not reach Python's recursion limit."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        order: list[str] = []
        for root in self.groups:
            if root in state:
                continue
            path, stack = [root], [iter(self._children(root))]
            state[root] = 1
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    stack.pop()
                    done = path.pop()
                    state[done] = 2
                    order.append(done)
                elif state.get(child) == 1:
                    loop = path[path.index(child):] + [child]
                    shown = " -> ".join(loop) if len(loop) <= 8 else " -> ".join(loop[:3] + ["..."] + loop[-3:])
                    raise UserError(f"group {child!r} is its own child ({shown})",
                                    where=self.groups[path[-1]].child_where.get(child) or self.source)
                elif child not in state:
                    state[child] = 1
                    path.append(child)
                    stack.append(iter(self._children(child)))
        return order

    def _children(self, name: str) -> list[str]:
        g = self.groups.get(name)
        return [c for c in g.children if c in self.groups and c != "all"] if g else []  # `all` is every host

    def _expand(self) -> dict[str, dict]:
        """Each group's members, once, children first; the merging work is capped."""
        out: dict[str, dict] = {}
        work = 0
        for name in self._order():
            g = self.groups[name]
            hosts = dict.fromkeys(g.hosts)
            work += len(hosts)
            for c in g.children:
                sub = dict.fromkeys(self.host_vars) if c == "all" else out.get(c, {})
                work += len(sub)
                if work > MAX_MEMBERSHIPS:
                    raise UserError(f"the groups expand to more than {MAX_MEMBERSHIPS} host memberships "
                                    f"(at group {name!r})", where=g.child_where.get(c) or g.where or self.source)
                hosts.update(sub)
            out[name] = hosts
        return out

    def groups_of(self, host: str) -> list[str]:
        """Groups of a host, parents first (the order their vars apply). Computed once for all hosts."""
        if self._membership is None:
            if self._members is None:
                self._members = self._expand()
            membership: dict[str, list[str]] = {}
            for g in sorted((g for g in self.groups if g != "all"), key=lambda g: (self.depth(g), g)):
                for h in self._members.get(g, ()):
                    membership.setdefault(h, []).append(g)
            self._membership = membership
        return list(self._membership.get(host, []))

    def depth(self, group: str) -> int:
        """1 for a group without parents, else one more than its deepest parent."""
        if self._depth is None:
            depth: dict[str, int] = {}
            for name in reversed(self._order()):  # parents before their children
                depth.setdefault(name, 1)
                for c in self._children(name):
                    depth[c] = max(depth.get(c, 1), depth[name] + 1)
            self._depth = depth
        return self._depth.get(group, 1)

    def check(self) -> None:
        """Cycles and the membership cap are errors when the file is read, not when a host is looked up."""
        self._members = self._expand()
        self.depth("all")

    def vars_for(self, host: str) -> dict:
        """Ansible's order: all's vars, then groups from the shallowest to the deepest, then the host's."""
        merged = dict(self.groups["all"].vars) if "all" in self.groups else {}
        for g in self.groups_of(host):
            merged.update(self.groups[g].vars)
        merged.update(self.host_vars.get(host, {}))
        return merged


def _scalar(text: str):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _kv_tokens(tokens: list[str], where: str) -> dict:
    out = {}
    for tok in tokens:
        k, eq, v = tok.partition("=")
        if not eq or not k:
            raise UserError(f"expected key=value, got {tok!r}", where=where)
        out[k] = _scalar(v)
    return out


def parse_ini(text: str, source: str) -> Inventory:
    inv = Inventory(source)
    inv.group("all")
    section, kind = "ungrouped", "hosts"
    declared_children: list[tuple[str, str, str]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{n}"
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise UserError(f"unclosed section header {line!r}", where=where)
            name, _, suffix = line[1:-1].strip().partition(":")
            if not name or not re.match(r"^[A-Za-z0-9_.\-]+$", name):
                raise UserError(f"bad group name {name!r}", where=where)
            if suffix not in ("", "vars", "children"):
                raise UserError(f"unknown section type ':{suffix}' (expected :vars or :children)", where=where)
            section, kind = name, suffix or "hosts"
            inv.group(section, where)
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as e:
            raise UserError(f"cannot parse line: {e}", where=where) from None
        if not tokens:
            continue
        if kind == "vars":
            if len(tokens) == 1 and "=" not in tokens[0]:
                raise UserError(f"expected key=value in [{section}:vars], got {line!r}", where=where)
            k, eq, v = line.partition("=")
            inv.group(section).vars[k.strip()] = _scalar(v.split(" #")[0])
            continue
        if kind == "children":
            if len(tokens) != 1:
                raise UserError(f"expected one group name per line in [{section}:children]", where=where)
            declared_children.append((section, tokens[0], where))
            continue
        pattern, hvars = tokens[0], _kv_tokens(tokens[1:], where)
        if re.match(r"^[^\[\]]*:\d*$", pattern) or re.match(r"^.*\]:\d*$", pattern):  # host:port, as Ansible allows
            pattern, _, port = pattern.rpartition(":")
            hvars.setdefault("ansible_port", port)
        _check_port(hvars, where)
        try:
            names = expand_ansible(pattern)
        except ValueError as e:
            raise UserError(str(e), where=where) from None
        _room_for(inv, names, where)
        for h in names:
            if not _HOST_RE.match(h.split(":")[0]):
                raise UserError(f"bad host name {hostrange.short(h)!r}", where=where)
            inv.add_host(h, section if section != "ungrouped" else "ungrouped", hvars)
    for parent, child, where in declared_children:
        if child not in inv.groups:
            raise UserError(f"[{parent}:children] names {child!r}, which is not a group", where=where)
        inv.add_child(parent, child, where)
    inv.check()  # cycles and the caps are errors now, not a recursion later
    return inv


def _room_for(inv: Inventory, names: list[str], where: str) -> None:
    """The whole inventory is capped like one range: many lines of big ranges add up."""
    if len(inv.host_vars) + len(names) > hostrange.MAX_HOSTS:
        raise UserError(f"the inventory names more than {hostrange.MAX_HOSTS} hosts", where=where)


def valid_port(port) -> bool:
    text = str(port)
    return hostrange.is_number(text) and len(text) <= 5 and 0 < int(text) < 65536


def _check_port(hvars: dict, where: str) -> None:
    port = hvars.get("ansible_port", hvars.get("ansible_ssh_port"))
    if port is not None and not valid_port(port):
        raise UserError(f"ansible_port must be a number from 1 to 65535, got {hostrange.short(str(port))!r}",
                        where=where)


def parse_yaml(text: str, source: str) -> Inventory:
    try:
        root = compose_yaml_text(text, source)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise UserError(f"invalid YAML: {getattr(e, 'problem', None) or e}", where=where) from None
    inv = Inventory(source)
    inv.group("all")
    if root is None:
        return inv
    _expect_map(root, source, "the top level of a YAML inventory (group: {hosts:, vars:, children:})")
    for key, val in root.value:
        _yaml_group(inv, key.value, val, source, _where(key, source))
    inv.check()
    return inv


def _where(node, source: str) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _expect_map(node, source: str, what: str) -> None:
    if not isinstance(node, yaml.MappingNode):
        raise UserError(f"expected a mapping for {what}", where=_where(node, source))


def _yaml_value(node):
    return yaml.safe_load(yaml.serialize(node))


def _yaml_group(inv: Inventory, name: str, node, source: str, where: str) -> None:
    group = inv.group(name, where)
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return
    _expect_map(node, source, f"group {name!r}")
    for key, val in node.value:
        k = key.value
        if k == "hosts":
            if isinstance(val, yaml.ScalarNode) and val.value in ("", "~", "null"):
                continue
            _expect_map(val, source, f"the hosts of group {name!r}")
            for hkey, hval in val.value:
                hvars = {}
                if not (isinstance(hval, yaml.ScalarNode) and hval.value in ("", "~", "null")):
                    _expect_map(hval, source, f"the vars of host {hkey.value!r}")
                    hvars = _yaml_value(hval) or {}
                _check_port(hvars, _where(hkey, source))
                try:
                    names = expand_ansible(str(hkey.value))
                except ValueError as e:
                    raise UserError(str(e), where=_where(hkey, source)) from None
                _room_for(inv, names, _where(hkey, source))
                for h in names:
                    inv.add_host(h, name, hvars)
        elif k == "vars":
            if not (isinstance(val, yaml.ScalarNode) and val.value in ("", "~", "null")):
                _expect_map(val, source, f"the vars of group {name!r}")
                group.vars.update(_yaml_value(val) or {})
        elif k == "children":
            if isinstance(val, yaml.ScalarNode) and val.value in ("", "~", "null"):
                continue
            _expect_map(val, source, f"the children of group {name!r}")
            for ckey, cval in val.value:
                inv.add_child(name, ckey.value, _where(ckey, source))
                _yaml_group(inv, ckey.value, cval, source, _where(ckey, source))
        else:
            raise UserError(f"unknown key {k!r} in group {name!r} (expected hosts, vars or children)",
                            where=_where(key, source))


def parse_plain(text: str, source: str) -> Inventory:
    inv = Inventory(source)
    total = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if " " in line or "\t" in line:
            raise UserError(f"expected one target per line, got {line!r}", where=f"{source}:{n}")
        try:
            total += len(hostrange.expand(line))
        except hostrange.HostRangeError as e:
            raise UserError(str(e), where=f"{source}:{n}") from None
        if total > hostrange.MAX_HOSTS:
            raise UserError(f"the inventory names more than {hostrange.MAX_HOSTS} hosts", where=f"{source}:{n}")
        inv.plain.append(line)
    return inv


def load_inventory(path: str | os.PathLike) -> Inventory:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise UserError(f"inventory file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read inventory {p}: {e}") from None
    source = str(p)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] not in "#;"]
    if p.suffix in (".yml", ".yaml") or (lines and re.match(r"^[A-Za-z0-9_.\-]+:\s*$", lines[0])):
        return parse_yaml(text, source)
    if any(re.match(r"^\[[^\]]*\]$", ln) or "=" in ln for ln in lines):
        return parse_ini(text, source)
    return parse_plain(text, source)


# --- target strings ----------------------------------------------------------------------------
_USER_HOST_PORT = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:@\s]+))"
                             r"(?::(?P<port>[^:]*))?$")


def parse_target(text: str, where: str | None = None) -> Target:
    """`host`, `user@host`, `user@host:port`, `user@[v6addr]:port`."""
    m = _USER_HOST_PORT.match(text)
    if not m:
        raise UserError(f"cannot read target {text!r} (expected host, user@host or user@host:port)", where=where)
    host = m.group("v6") or m.group("host")
    if m.group("host") and not _HOST_RE.match(host):  # e.g. "h;ls", "$(cmd)": never a host name
        raise UserError(f"bad host name in target {text!r}", where=where)
    port = m.group("port")
    if port is not None and not valid_port(port):
        raise UserError(f"bad port in target {hostrange.short(text)!r}", where=where)
    return Target(name=text, hostname=host, user=m.group("user"), port=int(port) if port else None)


def load_ssh_config(path: str | os.PathLike | None):
    import paramiko

    p = Path(os.path.expanduser(str(path or DEFAULT_SSH_CONFIG)))
    if not p.exists():
        if path:
            raise UserError(f"ssh config file not found: {p}")
        return None
    try:
        return paramiko.SSHConfig.from_path(str(p))
    except Exception as e:  # paramiko raises several kinds on bad files
        raise UserError(f"cannot parse ssh config {p}: {e}") from None


def apply_ssh_config(t: Target, cfg, _depth: int = 0) -> Target:
    """What OpenSSH would do with this name: HostName, Port, User, IdentityFile, ProxyJump, ProxyCommand
    (as in OpenSSH, the first of ProxyJump and ProxyCommand wins; we take ProxyJump when both match)."""
    if cfg is None or t.local:
        return t
    try:
        opts = cfg.lookup(t.hostname)
    except Exception as e:
        raise UserError(f"ssh config lookup for {t.hostname!r} failed: {e}") from None
    t.hostname = opts.get("hostname", t.hostname)
    if t.port is None and opts.get("port"):
        if not valid_port(opts["port"]):
            raise UserError(f"ssh config: bad Port {hostrange.short(opts['port'])!r} for {t.hostname!r}")
        t.port = int(opts["port"])
    if t.user is None and opts.get("user"):
        t.user = opts["user"]
    if not t.identity_files and opts.get("identityfile"):
        t.identity_files = list(opts["identityfile"])
    if opts.get("identitiesonly", "no").lower() == "yes":
        t.vars.setdefault("identities_only", True)
    jump = opts.get("proxyjump")
    if jump and jump.lower() != "none" and not t.proxy_jump:
        if _depth > 5:
            raise UserError(f"ProxyJump chain for {t.name!r} is too deep (a loop in the ssh config?)")
        hops = []
        for hop in jump.split(","):
            hops.append(apply_ssh_config(parse_target(hop.strip().removeprefix("ssh://")), cfg, _depth + 1))
        t.proxy_jump = hops
    command = opts.get("proxycommand")
    if command and command.lower() != "none" and not t.proxy_jump and t.proxy_command is None:
        t.proxy_command = command  # its %h, %p, %r are already expanded by the lookup
    return t


def _from_inventory(inv: Inventory, host: str) -> Target:
    v = inv.vars_for(host)
    port = v.get("ansible_port", v.get("ansible_ssh_port"))
    address = str(v.get("ansible_host", v.get("ansible_ssh_host", host)))
    if not _ADDRESS_RE.match(address):
        raise UserError(f"bad ansible_host {address!r} for host {host!r} in the inventory")
    t = Target(name=host, hostname=address,
               user=v.get("ansible_user", v.get("ansible_ssh_user")), port=int(port) if port else None,
               python=v.get("ansible_python_interpreter"), groups=inv.groups_of(host))
    key = v.get("ansible_ssh_private_key_file")
    if key:
        t.identity_files = [os.path.expanduser(str(key))]
    t.vars = {k: v for k, v in v.items() if not k.startswith("ansible_")}
    if t.hostname in ("localhost", "127.0.0.1") and v.get("ansible_connection") == "local":
        t.hostname = None  # Ansible's local connection: this machine, no SSH
    return t


def _expand_words(words, inv: Inventory | None) -> list[Target]:
    out: list[Target] = []
    for word in words:
        try:
            items = hostrange.split_top_level(word)
        except hostrange.HostRangeError as e:
            raise UserError(str(e)) from None
        for item in items:
            if item in LOCAL_NAMES:
                out.append(Target(name=this_machine_name()))
            elif item.startswith("@"):
                if inv is None:
                    raise UserError(f"{item} names an inventory group, but no inventory was given (-i FILE)")
                if item[1:] != "all" and item[1:] not in inv.groups:
                    raise UserError(f"no group {item[1:]!r} in {inv.source} "
                                    f"(groups: {', '.join(sorted(inv.groups)) or 'none'})")
                out += [_from_inventory(inv, h) for h in inv.members(item[1:])]
            elif inv is not None and item in inv.host_vars:
                out.append(_from_inventory(inv, item))
            elif inv is not None and item in inv.groups and item not in ("ungrouped",):
                out += [_from_inventory(inv, h) for h in inv.members(item)]
            elif (m := _USER_HOST_PORT.match(item)) and m.group("v6"):
                out.append(parse_target(item))
            else:
                try:
                    names = hostrange.expand_one(item)
                except hostrange.HostRangeError as e:
                    raise UserError(str(e)) from None
                for name in names:
                    if inv is not None and name in inv.host_vars:
                        out.append(_from_inventory(inv, name))
                    else:
                        out.append(parse_target(name))
        if len(out) > hostrange.MAX_HOSTS:
            raise UserError(f"the targets name more than {hostrange.MAX_HOSTS} hosts")
    return out


def apply_limit(targets: list[Target], limit: str, inv: Inventory | None) -> list[Target]:
    """Ansible-style --limit: `a,b` (or `a:b`) union; `&x` intersect; `!x` exclude; globs; `~regex`."""
    items = [i for i in re.split(r"[,:](?![^\[]*\])", limit) if i.strip()] if limit else []

    def matches(t: Target, pat: str) -> bool:
        if pat.startswith("@"):
            pat = pat[1:]
        if pat.startswith("~"):
            try:
                return re.search(pat[1:], t.name) is not None
            except re.error as e:
                raise UserError(f"bad regex in --limit {pat!r}: {e}") from None
        if pat == "all" or pat in t.groups:
            return True
        try:
            names = hostrange.expand_one(pat)
        except hostrange.HostRangeError:
            names = [pat]
        return any(fnmatch.fnmatchcase(t.name, n) or fnmatch.fnmatchcase(t.hostname or "", n) for n in names)

    plus = [i.strip() for i in items if i.strip()[0] not in "!&"]
    amp = [i.strip()[1:] for i in items if i.strip()[0] == "&"]
    bang = [i.strip()[1:] for i in items if i.strip()[0] == "!"]
    kept = [t for t in targets if (not plus or any(matches(t, p) for p in plus))
            and all(matches(t, a) for a in amp) and not any(matches(t, b) for b in bang)]
    if targets and not kept:
        raise UserError(f"--limit {limit!r} matches none of the {len(targets)} target(s)")
    return kept


def resolve(words: list[str], inventory: str | os.PathLike | None = None, limit: str | None = None,
            ssh_config: str | os.PathLike | None = None, python: str | None = None) -> list[Target]:
    """TARGET words (and/or an inventory) -> Targets, in order, duplicates dropped.

    No words with an inventory: all its hosts. `python` (--python) overrides every interpreter."""
    inv = load_inventory(inventory) if inventory else None
    if not words and inv is not None:
        words = list(inv.plain) if inv.plain else ["@all"]
    targets = _expand_words(words, inv) if inv is None or not inv.plain else _expand_words(words, None)
    if not targets:  # nothing to check is a mistake, not a clean run (exit 0 with nothing checked)
        raise _nothing_selected(words, inv)
    if limit:
        targets = apply_limit(targets, limit, inv)
    cfg = load_ssh_config(ssh_config) if any(not t.local for t in targets) else None
    seen: dict[tuple, Target] = {}
    for t in targets:
        if (t.name, t.local) in seen:  # this machine is named by its hostname, and may also be an SSH target
            continue
        apply_ssh_config(t, cfg)
        if python:
            t.python = python
        seen[(t.name, t.local)] = t
    return list(seen.values())


def _nothing_selected(words: list[str], inv: Inventory | None) -> UserError:
    if words and not any(w.strip(" ,") for w in words):
        return UserError("the TARGET is empty (an unset variable such as $HOSTS?): name at least one host")
    if inv is not None and not inv.host_vars and not inv.plain:
        return UserError("the inventory names no hosts", where=inv.source)
    return UserError(f"{' '.join(hostrange.short(w) for w in words)!r} names no hosts"
                     + (f" in {inv.source}" if inv is not None else ""))


def describe(t: Target) -> dict:
    """What `envdoctor hosts` prints for a target: where envdoctor would connect, and how."""
    if t.local:
        return {"name": t.name, "transport": "local", "python": t.python}
    d = {"name": t.name, "transport": "ssh", "hostname": t.hostname, "port": t.port or 22,
         "user": t.user, "python": t.python or "python3"}
    if t.identity_files:
        d["identity_files"] = t.identity_files
    if t.proxy_command:
        d["proxy_command"] = t.proxy_command
    if t.proxy_jump:
        d["proxy_jump"] = [f"{h.user + '@' if h.user else ''}{h.hostname}:{h.port or 22}" for h in t.proxy_jump]
    if t.groups:
        d["groups"] = t.groups
    return d
