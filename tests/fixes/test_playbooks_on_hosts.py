"""Every shipped playbook, applied for real over SSH to an isolated test host (its own sshd in a mount
namespace with copy-on-write /etc and /usr/local): check mode changes nothing, apply makes the change,
a second apply changes nothing, and the checks pass afterwards where the fix is complete."""

import json

import pytest

from tests.fixes.conftest import can_run_hosts

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")

FAKE_INITRAMFS = "#!/bin/sh\n# constructed: stands in for update-initramfs\necho \"$*\" >> /etc/fake-initramfs.log\n"


def three_runs(host, playbook, *extra):
    """check mode, apply, apply again; asserts what holds for every playbook and returns the recaps."""
    before = host.snapshot()
    rc, plan, r = host.play(playbook, "--check", *extra)
    assert host.snapshot() == before, f"check mode changed the host:\n{r.stdout}"
    rc1, first, r1 = host.play(playbook, *extra)
    rc2, second, r2 = host.play(playbook, *extra)
    assert second["changed"] == 0 and second["failed"] == 0, r2.stdout
    assert rc2 == 0
    after = host.snapshot()
    rc3, third, _ = host.play(playbook, *extra)
    assert third["changed"] == 0 and host.snapshot() == after  # and no new backups either
    return plan, first, second


def daemon_json(host) -> dict:
    return json.loads(host.read("/etc/docker/daemon.json"))


def check_status(host, check_id: str) -> str:
    r = host.envdoctor("check", *[a for a in host.args() if a != "--no-torch"], "--json")
    doc = json.loads(r.stdout)
    return {c["id"]: c["status"] for c in doc["hosts"][0]["checks"]}[check_id]


def test_container_toolkit_merges_runtime_keeps_keys_and_restarts_docker_once(host):
    # constructed: a daemon.json with settings of the site's own
    host.sh("mkdir -p /etc/docker && printf '%s' '{\"log-driver\": \"journald\", \"data-root\": \"/srv/docker\", "
            "\"runtimes\": {\"crun\": {\"path\": \"/usr/bin/crun\"}}}' > /etc/docker/daemon.json")
    host.install_fake_systemctl()
    plan, first, second = three_runs(host, "container-toolkit.yml")
    assert plan["changed"] == 2  # the merge, and the handler it notifies (planned, not run)
    assert first["changed"] == 2 and first["failed"] == 0
    d = daemon_json(host)
    assert d["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": []}
    assert d["log-driver"] == "journald" and d["data-root"] == "/srv/docker" and "crun" in d["runtimes"]
    # The handler ran once, at the end, and never again on the runs that changed nothing.
    assert [x for x in host.systemctl_log() if x.startswith("restart")] == ["restart docker"]
    backups = host.sh("ls /etc/docker").split()
    assert len([b for b in backups if b.startswith("daemon.json.envdoctor-backup-")]) == 1


def test_container_toolkit_without_systemd_skips_the_handler_with_the_manual_step(host):
    rc, plan, r = host.play("container-toolkit.yml", "--check")  # a dry run never fails such a handler
    assert rc == 0 and plan["failed"] == 0, r.stdout
    rc, first, r = host.play("container-toolkit.yml")
    assert rc == 0 and first["failed"] == 0 and first["changed"] == 1
    handler = [t for t in first["tasks"] if t["handler"]][0]
    assert handler["status"] == "skipped" and "systemd is not running" in handler["msg"]
    assert "manual step: `service docker restart`" in handler["msg"]
    assert "runtimes" in daemon_json(host)  # the change itself was made
    rc, again, _ = host.play("container-toolkit.yml")  # nothing changed, nothing pending: nothing to restart
    assert rc == 0 and again["changed"] == 0 and again["failed"] == 0 and not [t for t in again["tasks"] if t["handler"]]


def test_shm_sets_docker_default_and_remounts_dev_shm(host):
    # The test host's own small /dev/shm (a fresh tmpfs in its mount namespace, never this machine's).
    host.sh("mount -t tmpfs -o rw,nosuid,nodev,size=64m tmpfs /dev/shm && grep ' /dev/shm ' /proc/self/mounts")
    assert "size=65536k" in host.sh("grep ' /dev/shm ' /proc/self/mounts").splitlines()[-1]
    host.install_fake_systemctl()
    vars_ = ["-e", "manage_host_shm=true"]  # the host is a container here; its shm is its own tmpfs
    assert check_status(host, "shm_size") in ("fail", "warn")
    plan, first, second = three_runs(host, "shm.yml", *vars_)
    assert first["failed"] == 0, first
    assert daemon_json(host)["default-shm-size"] == "8G"
    mem_k = int(host.sh("grep MemTotal /proc/meminfo").split()[1])
    top = host.sh("grep ' /dev/shm ' /proc/self/mounts").splitlines()[-1]  # the mount on top is the one used
    live_k = int(host.sh("df -k --output=size /dev/shm").split()[-1])  # (the kernel omits size= at its default)
    assert abs(live_k - mem_k // 2) < 1024, top  # 50% of RAM, the playbook's default
    fstab = host.read("/etc/fstab")
    assert "tmpfs\t/dev/shm\ttmpfs\trw,nosuid,nodev,size=50%\t0\t0" in fstab
    assert check_status(host, "shm_size") == "pass"


def test_memlock_writes_limits_docker_and_systemd(host):
    host.install_fake_systemctl()
    plan, first, second = three_runs(host, "memlock.yml")
    assert first["failed"] == 0 and first["changed"] == 5  # 3 files + 2 handlers
    assert "*     hard  memlock  unlimited" in host.read("/etc/security/limits.d/90-envdoctor-memlock.conf")
    assert daemon_json(host)["default-ulimits"]["memlock"] == {"Name": "memlock", "Soft": -1, "Hard": -1}
    assert "DefaultLimitMEMLOCK=infinity" in host.read("/etc/systemd/system.conf.d/90-envdoctor-memlock.conf")
    log = host.systemctl_log()
    assert log.count("daemon-reexec") == 1 and log.count("restart docker") == 1
    # Not re-checked: memlock applies at the next PAM login / service start, which a test sshd
    # (UsePAM no) does not do, so the session's `ulimit -l` is unchanged by design.


def test_cuda_switch_points_usr_local_cuda_and_writes_profile(host):
    # constructed: a second toolkit next to the machine's own, inside the host's /usr/local overlay
    host.sh("mkdir -p /usr/local/cuda-12.4/bin /usr/local/cuda-12.4/lib64 && "
            "echo '{\"cuda\": {\"version\": \"12.4.1\"}}' > /usr/local/cuda-12.4/version.json")
    before = host.sh("readlink /usr/local/cuda || true")
    plan, first, second = three_runs(host, "cuda-switch.yml", "-e", "cuda_toolkit=/usr/local/cuda-12.4")
    assert first["changed"] == 2 and first["failed"] == 0
    assert host.sh("readlink /usr/local/cuda").strip() == "/usr/local/cuda-12.4" != before.strip()
    prof = host.read("/etc/profile.d/envdoctor-cuda.sh")
    assert "export CUDA_HOME=/usr/local/cuda" in prof
    out = host.sh(". /etc/profile.d/envdoctor-cuda.sh && echo $CUDA_HOME:$PATH:$LD_LIBRARY_PATH")
    assert out.startswith("/usr/local/cuda:/usr/local/cuda/bin:") and "/usr/local/cuda/lib64" in out


def test_cuda_switch_without_a_known_driver_does_nothing(host):
    # No GPU driver here: the toolkit the driver supports is unknown, so every task is skipped.
    before = host.snapshot()
    rc, first, r = host.play("cuda-switch.yml")
    assert rc == 0 and first["changed"] == 0 and first["skipped"] == 3, r.stdout
    assert host.snapshot() == before


def test_persistence_mode_enables_the_daemon(host):
    host.install_fake_systemctl()
    plan, first, second = three_runs(host, "persistence-mode.yml")
    assert first["changed"] == 1 and first["failed"] == 0
    assert host.systemctl_log().count("enable nvidia-persistenced") == 1
    assert host.systemctl_log().count("start nvidia-persistenced") == 1


def test_fabricmanager_only_on_nvswitch_systems(host):
    host.install_fake_systemctl()
    rc, first, _ = host.play("fabricmanager.yml")  # no NVSwitch here
    assert rc == 0 and first["skipped"] == 1 and first["changed"] == 0
    plan, first, second = three_runs(host, "fabricmanager.yml", "-e", "has_nvswitch=true")
    assert first["changed"] == 1 and "enable nvidia-fabricmanager" in host.systemctl_log()


def test_blacklist_nouveau_and_initramfs_handler_once(host):
    # A stand-in update-initramfs in the host's /usr/local/sbin (first on PATH): never the real one.
    host.sh(f"cat > /usr/local/sbin/update-initramfs <<'EOF'\n{FAKE_INITRAMFS}EOF\n"
            "chmod 755 /usr/local/sbin/update-initramfs")
    plan, first, second = three_runs(host, "blacklist-nouveau.yml")
    assert first["changed"] == 2 and first["failed"] == 0
    assert "blacklist nouveau" in host.read("/etc/modprobe.d/blacklist-nouveau.conf")
    assert host.read("/etc/fake-initramfs.log").splitlines() == ["-u"]


def test_onboard_node_applies_what_the_checks_ask_for(host):
    host.install_fake_systemctl()
    host.sh("mount -t tmpfs -o rw,nosuid,nodev,size=64m tmpfs /dev/shm")
    status = {c: check_status(host, c) for c in ("shm_size", "memlock_limit", "nouveau")}
    plan, first, second = three_runs(host, "onboard-node.yml", "-e", "rebuild_initramfs=false manage_host_shm=true")
    assert first["failed"] == 0, first
    ran = {t["play"] for t in first["tasks"] if t["status"] != "skipped"}
    # Here (a 64 MiB /dev/shm, memlock limited, nouveau not loaded) the guards pick exactly these:
    assert status["shm_size"] == "fail" and "shared memory (/dev/shm)" in ran
    assert (status["memlock_limit"] in ("fail", "warn")) == ("memlock unlimited" in ran), status
    assert status["nouveau"] != "fail" and "blacklist nouveau" not in ran
    assert daemon_json(host)["default-shm-size"] == "8G"


# constructed: stands in for nvidia-ctk (version line in the format `parse_ctk_version` reads; `runtime
# configure` writes the runtime entry the way the real tool does, keeping the file's other keys)
FAKE_CTK = r'''#!/bin/sh
if [ "$1" = "--version" ]; then echo "NVIDIA Container Toolkit CLI version 1.17.8"; exit 0; fi
echo "$*" >> /etc/fake-ctk.log
cfg=/etc/docker/daemon.json
for a in "$@"; do case "$a" in --config=*) cfg="${a#--config=}" ;; esac; done
mkdir -p "$(dirname "$cfg")"
/usr/bin/python3 - "$cfg" <<'PY'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p)) if os.path.exists(p) else {}
d.setdefault("runtimes", {})["nvidia"] = {"args": [], "path": "nvidia-container-runtime"}
json.dump(d, open(p, "w"), indent=4)
PY
'''


def test_container_toolkit_uses_nvidia_ctk_when_present(host):
    host.sh(f"cat > /usr/local/bin/nvidia-ctk <<'EOF'\n{FAKE_CTK}EOF\nchmod 755 /usr/local/bin/nvidia-ctk")
    host.sh("mkdir -p /etc/docker && echo '{\"debug\": true}' > /etc/docker/daemon.json")
    host.install_fake_systemctl()
    plan, first, second = three_runs(host, "container-toolkit.yml")
    ran = [t["task"] for t in first["tasks"] if t["status"] == "changed"]
    assert ran == ["nvidia-ctk configures docker's nvidia runtime", "restart docker"], first
    assert host.read("/etc/fake-ctk.log").splitlines() == ["runtime configure --runtime=docker "
                                                            "--config=/etc/docker/daemon.json"]
    d = daemon_json(host)
    assert d["debug"] is True and d["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    # The second run: the `unless` guard sees the runtime and nvidia-ctk is not run again.
    assert [t["status"] for t in second["tasks"] if t["module"] == "command"] == ["skipped"]


def test_package_module_plans_from_the_package_database(host, tmp_path):
    # Check mode only: installing a package would write to this machine's /usr and /var (not overlaid).
    pb = tmp_path / "pkg.yml"
    pb.write_text("# constructed: one installed package, one that no repository has\n"
                  "- name: packages\n  tasks:\n"
                  "    - name: installed\n      package: {name: openssh-server}\n"
                  "    - name: missing\n      package: {name: envdoctor-no-such-package}\n")
    before = host.snapshot()
    rc, recap, r = host.play(str(pb), "--check")
    status = {t["task"]: (t["status"], t["msg"]) for t in recap["tasks"]}
    assert status["installed"][0] == "ok"
    assert status["missing"][0] == "changed" and "envdoctor-no-such-package" in status["missing"][1]
    assert status["missing"][1].startswith("(check mode) would change: install with ")
    assert host.snapshot() == before


# constructed: stands in for update-alternatives (`--set cuda PATH`), linking as NVIDIA's packages do:
# /usr/local/cuda -> /etc/alternatives/cuda -> the toolkit
FAKE_ALTERNATIVES = r'''#!/bin/sh
echo "$*" >> /etc/fake-alternatives.log
[ "$1" = "--set" ] && [ "$2" = "cuda" ] || exit 2
mkdir -p /etc/alternatives && ln -sfn "$3" /etc/alternatives/cuda && ln -sfn /etc/alternatives/cuda /usr/local/cuda
'''


def test_cuda_switch_through_update_alternatives(host):
    host.sh("mkdir -p /usr/local/cuda-12.4/bin && "
            f"cat > /usr/local/sbin/update-alternatives <<'EOF'\n{FAKE_ALTERNATIVES}EOF\n"
            "chmod 755 /usr/local/sbin/update-alternatives")
    plan, first, second = three_runs(host, "cuda-switch.yml", "-e",
                                     "cuda_toolkit=/usr/local/cuda-12.4 use_alternatives=true")
    assert host.read("/etc/fake-alternatives.log").splitlines() == ["--set cuda /usr/local/cuda-12.4"]
    assert host.sh("readlink -f /usr/local/cuda").strip() == "/usr/local/cuda-12.4"
    assert [t["status"] for t in second["tasks"] if t["module"] == "command"] == ["skipped"]  # the unless guard


def test_inside_a_container_the_plan_is_what_a_container_can_do(host):
    # The test host reads as a container (it lives in this machine's); no docker daemon of its own.
    expected = {"shm.yml": "docker run --shm-size=8G", "memlock.yml": "docker run --ulimit memlock=-1:-1",
                "container-toolkit.yml": "docker run --gpus all"}
    for playbook, flag in expected.items():
        r = host.envdoctor("play", playbook, *host.args(), "--json")
        recap = json.loads(r.stdout)["hosts"][0]
        assert r.returncode == 0 and recap["failed"] == 0, r.stdout
        manual = [t for t in recap["tasks"] if t["module"] == "manual"]
        assert manual and manual[0]["status"] == "skipped" and flag in manual[0]["msg"], recap["tasks"]
        assert "manual step:" in manual[0]["msg"]
        assert not [t for t in recap["tasks"] if t["module"] == "json_merge" and t["status"] != "skipped"]
    assert host.read("/etc/docker/daemon.json") is None  # no daemon.json for a daemon that is not there
