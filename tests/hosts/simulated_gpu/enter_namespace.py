"""SIMULATION, for tests only. Run as `unshare --mount --propagation private -- python3 enter_namespace.py
PLAN.json`: inside that private mount namespace, make this machine look like the simulated GPU host the
plan describes, then exec the plan's command. Every change is a mount inside the namespace (binds of
files the test wrote under its own temporary folder, and tmpfs); nothing on the machine's own
filesystem is written, and all of it disappears with the namespace.

- /dev: a tmpfs that carries every entry of the real /dev (bound, not copied: /dev/null, /dev/shm, pts
  are the real ones) plus the plan's /dev/nvidia* character nodes;
- /etc/ld.so.cache: a cache built here (ldconfig -X: no links updated; its aux cache goes to a tmpfs)
  with the stub driver libraries' folder first, so dlopen("libcuda.so.1") and `ldconfig -p` find them;
- /proc/driver, /proc/modules, /sys/bus/pci/devices: the plan's constructed views, bound over the real;
- this machine's own NVIDIA tools (nvidia-smi, ...) are covered, so only the plan's stubs answer.
What the plan does not simulate (packages, limits, container markers, sshd, docker) is this machine's.
"""

import json
import os
import subprocess
import sys


def sh(*argv):
    subprocess.run(argv, check=True)


def bind(src, dst, recursive=False):
    sh("mount", "--rbind" if recursive else "--bind", src, dst)


def private_dev(stage, nodes):
    """A new /dev holding the real entries plus the simulated nodes (mknod: never on the real /dev)."""
    old = os.path.join(stage, "real-dev")
    os.mkdir(old)
    bind("/dev", old, recursive=True)
    sh("mount", "-t", "tmpfs", "-o", "mode=755", "simulated-dev", "/dev")
    for name in sorted(os.listdir(old)):
        src, dst = os.path.join(old, name), os.path.join("/dev", name)
        if name.startswith("nvidia"):
            continue  # a real GPU's nodes never show through a simulation
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            bind(src, dst, recursive=True)
        else:
            open(dst, "w").close()
            bind(src, dst)
    for n in nodes:
        os.mknod(os.path.join("/dev", n["name"]), 0o20666, os.makedev(n["major"], n["minor"]))


def ld_cache(stage, lib_dir):
    """/etc/ld.so.cache with the stub libraries first, built without touching the machine's files."""
    if os.path.isdir("/var/cache/ldconfig"):
        sh("mount", "-t", "tmpfs", "simulated-ldconfig", "/var/cache/ldconfig")
    conf, cache = os.path.join(stage, "ld.so.conf"), os.path.join(stage, "ld.so.cache")
    with open(conf, "w") as fh:
        fh.write(lib_dir + "\ninclude /etc/ld.so.conf.d/*.conf\n")
    sh("ldconfig", "-X", "-i", "-C", cache, "-f", conf)
    bind(cache, "/etc/ld.so.cache")


def hide_real_tools(stage, names, keep_dir, path):
    """This machine's own NVIDIA tools (a GPU machine has them) are covered by an empty, non-executable
    file, so only the simulated host's stubs answer and a tool the host lacks is absent."""
    empty = os.path.join(stage, "hidden-tool")
    open(empty, "w").close()
    os.chmod(empty, 0o644)
    for d in path.split(os.pathsep) + ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]:
        if not d or os.path.realpath(d) == os.path.realpath(keep_dir):
            continue
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p):
                bind(empty, p)


def main(plan_path):
    with open(plan_path) as fh:
        plan = json.load(fh)
    stage = plan["stage"]
    private_dev(stage, plan["dev_nodes"])
    ld_cache(stage, plan["lib_dir"])
    hide_real_tools(stage, plan["hide_tools"], plan["bin_dir"], plan["env"].get("PATH", ""))
    for src, dst, optional in plan["binds"]:
        if optional and not os.path.exists(dst):
            continue  # /proc/modules is absent on a kernel built without module support: the probe says so
        bind(src, dst)
    os.chdir(plan["cwd"])
    os.execvpe(plan["argv"][0], plan["argv"], plan["env"])


if __name__ == "__main__":
    main(sys.argv[1])
