"""`envdoctor fix` sorts failed checks into playbooks to apply and manual steps to list."""

from envdoctor.app.fix import HostFix, ManualStep
from envdoctor.fixes.session import OpenHost
from envdoctor.hosts.targets import Target
from envdoctor.models import CheckResult, Fix, Status


def result(id, status, fix=None):
    return CheckResult(id=id, title=id, status=status, summary=f"{id} summary", fix=fix)


def test_triage_playbooks_once_and_manual_with_commands():
    hf = HostFix(OpenHost(Target(name="h", hostname="h")))
    hf.host.session.results = [
        result("container_toolkit", Status.FAIL, Fix(summary="configure", playbook="container-toolkit.yml")),
        result("docker_gpu_runtime", Status.FAIL, Fix(summary="configure", playbook="container-toolkit.yml")),
        # constructed: the shape of a manual fix (a driver/library mismatch needs a reboot)
        result("nvml_version_mismatch", Status.FAIL,
               Fix(summary="reload the driver or reboot", commands=["sudo reboot"], manual=True)),
        result("shm_size", Status.WARN, Fix(summary="bigger shm", playbook="shm.yml")),
        result("memlock_limit", Status.PASS),
    ]
    hf.triage({Status.FAIL})
    assert hf.playbooks == ["container-toolkit.yml"]
    assert hf.manual == [ManualStep(check="nvml_version_mismatch", summary="nvml_version_mismatch summary",
                                    fix="reload the driver or reboot", commands=["sudo reboot"])]
    hf2 = HostFix(OpenHost(Target(name="h", hostname="h")))
    hf2.host.session.results = hf.host.session.results
    hf2.triage({Status.FAIL, Status.WARN})
    assert hf2.playbooks == ["container-toolkit.yml", "shm.yml"]
