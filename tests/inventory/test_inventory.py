"""Target resolution: host strings, Slurm ranges, ssh_config aliases, Ansible INI/YAML and plain inventories,
--limit, and bad input (one line naming file:line, exit 2). No connections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.errors import UserError
from envdoctor.hosts import hostrange
from envdoctor.hosts.inventory import describe, load_inventory, parse_target, resolve

DATA = Path(__file__).resolve().parents[1] / "data" / "constructed" / "inventory"


@pytest.mark.parametrize("text,hosts", [
    ("gpu[01-04]", ["gpu01", "gpu02", "gpu03", "gpu04"]),
    ("node[1-3,7],login1", ["node1", "node2", "node3", "node7", "login1"]),
    ("gpu[8-11]", ["gpu8", "gpu9", "gpu10", "gpu11"]),
    ("r[1-2]-g[1-2]", ["r1-g1", "r1-g2", "r2-g1", "r2-g2"]),
    ("a,a,b", ["a", "b"]),
])
def test_slurm_ranges(text, hosts):
    assert hostrange.expand(text) == hosts


@pytest.mark.parametrize("text,hosts", [
    ("n[5,1-3]", ["n5", "n1", "n2", "n3"]),  # the order written, not NodeSet's sorted order
    ("r[2,1]-g[1-2]", ["r2-g1", "r2-g2", "r1-g1", "r1-g2"]),
    ("gpu[98-100]", ["gpu98", "gpu99", "gpu100"]),
    ("gpu[099-100]", ["gpu099", "gpu100"]),
    ("gpu[09-100]", ["gpu09", "gpu10"] + [f"gpu{i}" for i in range(11, 101)]),  # wider than its padding
    ("ml@gpu[1-2]:2222", ["ml@gpu1:2222", "ml@gpu2:2222"]),  # text around a range is literal
    ("a!b[1-2]", ["a!b1", "a!b2"]),
    ("x%s[1]", ["x%s1"]),
])
def test_ranges_keep_the_order_written_and_literal_text(text, hosts):
    assert hostrange.expand(text) == hosts


def test_fold_joins_hosts_and_keeps_names_that_do_not_fold():
    hosts = [f"gpu{i:02d}" for i in range(1, 13)] + ["gpu14", "login1"]
    assert hostrange.fold(hosts) == ["gpu[01-12,14]", "login1"]
    assert hostrange.fold(["rack1-gpu01", "rack1-gpu02", "rack2-gpu01", "rack2-gpu02"]) == ["rack[1-2]-gpu[01-02]"]
    # pastes, user@host:port, a bracketed address, NodeSet's operators and groups: listed as they are, once
    odd = ["a/nvidia.txt", "root@[::1]:2200", "x!y", "@group", "gpu[1]", "we ird", "a/nvidia.txt"]
    assert hostrange.fold(["gpu2", *odd, "gpu1"]) == ["gpu[1-2]"] + odd[:-1]
    assert hostrange.fold([]) == []
    for names in (hosts, [f"n{i}" for i in range(0, 300, 7)] + ["n007", "x"]):  # folded lists expand back
        assert sorted(hostrange.expand(",".join(hostrange.fold(names)))) == sorted(names)


@pytest.mark.parametrize("text", ["gpu[01-", "gpu]", "gpu[3-1]", "gpu[a-b]", "gpu[1-999999999]", "gpu[,1]",
                                  "gpu[1-²]"])
def test_bad_ranges(text):
    with pytest.raises(hostrange.HostRangeError):
        hostrange.expand(text)


@pytest.mark.parametrize("text,user,host,port", [
    ("gpu01", None, "gpu01", None),
    ("ml@gpu01", "ml", "gpu01", None),
    ("ml@gpu01:2222", "ml", "gpu01", 2222),
    ("root@[::1]:2200", "root", "::1", 2200),
])
def test_target_strings(text, user, host, port):
    t = parse_target(text)
    assert (t.user, t.hostname, t.port, t.name) == (user, host, port, text)


def test_bad_port_is_a_user_error():
    for text in ("ml@gpu01:http", "gpu01:²"):  # "²" is a digit to str.isdigit, not to int() (was a traceback)
        with pytest.raises(UserError, match="bad port"):
            parse_target(text)


@pytest.mark.parametrize("text", ["h;ls", "$(reboot)", "ml@gpu01`id`", "gpu|01"])
def test_shell_syntax_in_a_host_name_is_refused(text):
    # regression: these were accepted as host names (never run by a shell, but never a real host either)
    with pytest.raises(UserError, match="bad host name"):
        parse_target(text)


def test_bad_ansible_host_is_refused(tmp_path):
    # constructed inventory: an ansible_host value with shell syntax
    inv = tmp_path / "inv.ini"
    inv.write_text("[workers]\ngpu01 ansible_host='10.0.0.1;reboot'\n")
    with pytest.raises(UserError, match="bad ansible_host '10.0.0.1;reboot' for host 'gpu01'"):
        resolve([], inventory=inv, ssh_config="/dev/null")


def _summary(targets):
    return {t.name: (t.hostname, t.user, t.port, t.python) for t in targets}


EXPECTED_CLUSTER = {
    "login1": ("10.0.0.1", "admin", None, "/usr/bin/python3"),
    "gpu01": ("gpu01", "ml", 2200, "/opt/conda/bin/python"),
    "gpu02": ("gpu02", "ml", 2200, "/opt/conda/bin/python"),
    "gpu03": ("gpu03", "ml", 2200, "/opt/conda/bin/python"),
    "gpu04": ("gpu04", "ml", 2200, "/opt/conda/bin/python"),
    "gpu09": ("gpu09", "ml", 2222, "/usr/bin/python3"),
    "nas-a.example.org": ("nas-a.example.org", "ops", 2200, "/usr/bin/python3"),
    "nas-b.example.org": ("nas-b.example.org", "ops", 2200, "/usr/bin/python3"),
}


@pytest.mark.parametrize("name", ["cluster.ini", "cluster.yml"])
def test_ini_and_yaml_give_the_same_cluster(name):
    targets = resolve([], inventory=DATA / name, ssh_config="/dev/null")
    assert _summary(targets) == EXPECTED_CLUSTER
    gpu01 = next(t for t in targets if t.name == "gpu01")
    assert set(gpu01.groups) >= {"workers", "dc1"}


@pytest.mark.parametrize("name", ["cluster.ini", "cluster.yml"])
@pytest.mark.parametrize("words,limit,expected", [
    (["@workers"], None, ["gpu01", "gpu02", "gpu03", "gpu04", "gpu09"]),
    (["@storage", "login1"], None, ["nas-a.example.org", "nas-b.example.org", "login1"]),
    ([], "workers:!gpu0[2-3]", ["gpu01", "gpu04", "gpu09"]),
    ([], "dc1:&storage", ["nas-a.example.org", "nas-b.example.org"]),
    ([], "gpu0*", ["gpu01", "gpu02", "gpu03", "gpu04", "gpu09"]),
    (["gpu[02-03]"], None, ["gpu02", "gpu03"]),  # a range over inventory hosts keeps their vars
    (["@all"], "~^nas-a", ["nas-a.example.org"]),
])
def test_groups_and_limit(name, words, limit, expected):
    targets = resolve(words, inventory=DATA / name, limit=limit, ssh_config="/dev/null")
    assert [t.name for t in targets] == expected
    for t in targets:
        assert _summary([t])[t.name] == EXPECTED_CLUSTER[t.name]


def test_plain_file():
    targets = resolve([], inventory=DATA / "plain.txt", ssh_config="/dev/null")
    assert [t.name for t in targets] == ["gpu01", "gpu02", "gpu03", "ml@login1:2222", "node1", "node2", "node7"]
    ml = targets[3]
    assert (ml.user, ml.hostname, ml.port) == ("ml", "login1", 2222)


def test_ssh_config_alias(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("# constructed: an alias with a jump host\n"
                   "Host gpu-*\n  User ml\n  Port 2201\n  IdentityFile /keys/id_gpu\n  ProxyJump bastion\n"
                   "Host bastion\n  HostName 192.0.2.10\n  User jump\n")
    (t,) = resolve(["gpu-7"], ssh_config=cfg)
    assert (t.hostname, t.user, t.port, t.identity_files) == ("gpu-7", "ml", 2201, ["/keys/id_gpu"])
    assert [(h.hostname, h.user) for h in t.proxy_jump] == [("192.0.2.10", "jump")]
    assert describe(t)["proxy_jump"] == ["jump@192.0.2.10:22"]
    (t,) = resolve(["root@gpu-7:22"], ssh_config=cfg)  # what the user typed wins over ssh_config
    assert (t.user, t.port) == ("root", 22)


@pytest.mark.parametrize("name,line,message", [
    ("bad-port.ini", 3, "ansible_port must be a number"),
    ("bad-section.ini", 4, "unknown section type"),
    ("bad-child.ini", 5, "not a group"),
    ("bad-token.ini", 3, "expected key=value"),
    ("bad-range.ini", 3, "bad host range"),
    ("bad-indent.yml", 5, "invalid YAML"),
    ("bad-key.yml", 4, "unknown key 'host_vars'"),
    ("bad-plain.txt", 3, "one target per line"),
    # capped like command-line ranges, before a single name is made (was 6.9 GB in two minutes)
    ("huge-range.ini", 3, "names more than 100000 hosts"),
    ("huge-range.yml", 4, "names more than 100000 hosts"),
    ("long-bound.ini", 3, "range bound of 5000 digits"),  # was a traceback (int() of 5000 digits)
    ("many-ranges.ini", 5, "the inventory names more than 100000 hosts"),
    ("huge-range.txt", 3, "the inventory names more than 100000 hosts"),
])
def test_bad_inventories_name_file_and_line(name, line, message):
    path = DATA / name
    r = CliRunner().invoke(main, ["hosts", "-i", str(path)])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"envdoctor: error: {path}:{line}: "), lines[0]
    assert message in lines[0]


def _laughs() -> str:
    rows = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "all:\n  vars:\n" + "".join(f"    {r}\n" for r in rows)


@pytest.mark.parametrize("body,line,message", [
    ("all:\n  vars:\n    deep: " + "[" * 10000 + "]" * 10000 + "\n", 4, "nested deeper than 100"),
    ("all:\n  vars:\n    deep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", 4, "nested deeper than 100"),
    (_laughs(), None, "aliases expand"),
], ids=["deep-list", "deep-mapping", "billion-laughs"])
def test_hostile_yaml_inventory_is_one_line_exit_2(tmp_path, body, line, message):
    # constructed in the test: a 10,000-deep list, a 3,000-deep mapping (both were a RecursionError, rc 1)
    # and a billion-laughs alias chain, in a YAML inventory's vars
    path = tmp_path / "deep.yml"
    path.write_text("# constructed: hostile nesting\n" + body)
    r = CliRunner().invoke(main, ["hosts", "-i", str(path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    (out,) = r.output.strip().splitlines()
    assert out.startswith(f"envdoctor: error: {path}:{line or ''}") and message in out, out


def test_a_long_bound_on_the_command_line_is_one_line():
    r = CliRunner().invoke(main, ["hosts", "gpu[1-" + "9" * 5000 + "]", "-F", "/dev/null"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    (line,) = r.output.strip().splitlines()
    assert line.startswith("envdoctor: error: range bound of 5000 digits in 'gpu[1-999") and len(line) < 150


def test_proxycommand_from_ssh_config_and_interpreter_command_lines(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("# constructed: a host behind a ProxyCommand\n"
                   "Host inner\n  HostName 10.0.0.7\n  Port 2022\n  ProxyCommand nc -X connect -x proxy:3128 %h %p\n")
    (t,) = resolve(["inner"], ssh_config=cfg)
    assert (t.hostname, t.port, t.proxy_command) == ("10.0.0.7", 2022, "nc -X connect -x proxy:3128 10.0.0.7 2022")
    assert describe(t)["proxy_command"] == t.proxy_command
    t.python = "/usr/bin/env python3"  # as ansible_python_interpreter may say
    assert t.interpreter_argv() == ["/usr/bin/env", "python3"]
    (local,) = resolve(["local"])
    spaced = tmp_path / "my env" / "python3"
    spaced.parent.mkdir()
    spaced.write_text("")
    assert local.interpreter_argv(str(spaced)) == [str(spaced)]  # an existing local path stays one word


def test_group_cycle_is_an_error():
    with pytest.raises(UserError, match="its own child"):
        load_inventory(DATA / "cycle.yml")


@pytest.mark.parametrize("args,message", [
    (["@workers"], "no inventory was given"),
    (["-i", str(DATA / "cluster.ini"), "@nosuch"], "no group 'nosuch'"),
    (["-i", str(DATA / "cluster.ini"), "--limit", "nothing-matches"], "matches none"),
    (["-i", "/nonexistent/inv.ini"], "inventory file not found"),
    (["gpu[1-"], "unclosed"),
])
def test_bad_targets_exit_2(args, message):
    for cmd in ("hosts", "check"):
        r = CliRunner().invoke(main, [cmd, *args, "-F", "/dev/null"])
        assert r.exit_code == 2, (cmd, r.output)
        assert message in r.output and "Traceback" not in r.output


def test_hosts_json():
    r = CliRunner().invoke(main, ["hosts", "--json", "-i", str(DATA / "cluster.yml"), "--limit", "gpu09",
                                  "-F", "/dev/null"])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == [{"name": "gpu09", "transport": "ssh", "hostname": "gpu09", "port": 2222,
                                     "user": "ml", "python": "/usr/bin/python3", "groups": ["dc1", "workers"]}]
