"""SIMULATION, for tests only. Run as `unshare --mount --propagation private -- python3 enter_namespace.py
PLAN.json`: inside that private mount namespace, make this machine look like the simulated GPU host the
plan describes, then exec the plan's command. Every change is a mount inside the namespace (binds of
files the test wrote under its own temporary folder, and tmpfs); nothing on the machine's own
filesystem is written, and all of it disappears with the namespace.

- /dev: a tmpfs that carries every entry of the real /dev (bound, not copied: /dev/null, /dev/shm, pts
  are the real ones) plus the plan's /dev/nvidia* character nodes;
- /etc/ld.so.cache: a cache built here (ldconfig -X: no links updated; its aux cache goes to a tmpfs)
  with the stub driver libraries' folder first, so dlopen("libcuda.so.1") and `ldconfig -p` find them;
- /proc/driver, /proc/modules, /sys/bus/pci/devices: the plan's constructed views, bound over the real.
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


def main(plan_path):
    with open(plan_path) as fh:
        plan = json.load(fh)
    stage = plan["stage"]
    private_dev(stage, plan["dev_nodes"])
    ld_cache(stage, plan["lib_dir"])
    for src, dst, optional in plan["binds"]:
        if optional and not os.path.exists(dst):
            continue  # /proc/modules is absent on a kernel built without module support: the probe says so
        bind(src, dst)
    os.chdir(plan["cwd"])
    os.execvpe(plan["argv"][0], plan["argv"], plan["env"])


if __name__ == "__main__":
    main(sys.argv[1])
