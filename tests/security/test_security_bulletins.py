"""NVIDIA's bulletin table (envdoctor/data/nvidia_security_bulletins.yaml) on the driver and Container
Toolkit versions of the real outputs in tests/data/corpus/, read through the same parsers as a paste."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.diagnosis.security_bulletins import driver_findings, installed_driver, toolkit_findings, toolkit_versions
from envdoctor.knowledge import load
from envdoctor.versions import release
from tests.checks.support import run
from tests.corpus import corpus_body


def facts_of(rel: str):
    return facts_from_bundle(Bundle(pastes=[corpus_body(rel)]))


def test_the_table_names_its_source_and_is_consistent():
    data = load("nvidia_security_bulletins")
    assert data["source"].startswith("https://") and data["read"]
    ids = [b["id"] for b in data["container_toolkit"] + data["driver"]]
    assert len(ids) == len(set(ids))
    for b in data["container_toolkit"]:
        assert release(b["affected_up_to"]) < release(b["fixed"]) and b["cves"]
    for b in data["driver"]:
        assert b["cves"] and all(k.startswith("R") and release(v)[0] == int(k[1:]) for k, v in b["fixed"].items())
    fixed_by_cve = {c: b["fixed"] for b in data["container_toolkit"] for c in b["cves"]}
    assert fixed_by_cve["CVE-2024-0132"] == "1.16.2" and fixed_by_cve["CVE-2025-23266"] == "1.17.8"


@pytest.mark.parametrize("rel, component, version, bulletins", [
    ("container-config/nvidia-container-toolkit-version-1.17.0.txt", "nvidia-container-runtime-hook", "1.17.0",
     ["5850", "5659", "5616", "5599"]),
    ("container-config/nvidia-ctk-version-1.12.0.txt", "nvidia-ctk", "1.12.0",
     ["5850", "5659", "5616", "5599", "5585", "5582"]),
    ("errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt", "nvidia-container-cli", "1.9.0",
     ["5850", "5659", "5616", "5599", "5585", "5582"]),
])
def test_toolkit_versions_of_the_corpus(rel, component, version, bulletins):
    facts = facts_of(rel)
    assert toolkit_versions(facts)[component][0] == version
    assert [b.id for b in toolkit_findings(version)] == bulletins
    r = run("security_nvidia_toolkit", facts)
    assert r.status.value == "warn" and "upgrade to 1.19.1" in r.summary
    assert any("CVE-2025-23266" in e and "fixed in 1.17.8" in e for e in r.evidence)


def test_toolkit_boundaries():
    assert [b.id for b in toolkit_findings("1.16.2")] == ["5850", "5659", "5616", "5599", "5585"]  # 0132 fixed
    assert [b.id for b in toolkit_findings("1.17.8")] == ["5850"]
    assert toolkit_findings("1.19.1") == []


@pytest.mark.parametrize("rel, version, fixed, unfixed", [
    # R470 got fixes until June 2024; 470.223.02 is itself the October 2023 fix (5491), so not affected by it
    ("proc-driver-version/proprietary-470.223.02-ubuntu20.04.txt", "470.223.02", ["5551", "5520"],
     ["5821", "5747", "5703", "5670", "5630", "5614", "5586"]),
    ("dmesg-xid/fallen-off-bus-without-xid-open-kernel-570.txt", "570.158.01", ["5747", "5703", "5670"], ["5821"]),
    ("nvidia-smi-table/a100-sxm4-40gb-580.126.09-exclusive-process-partial.txt", "580.126.09", ["5821"], []),
    # R590 is not in the May 2026 bulletin (R595, R580, R535): "earlier branches might also be affected"
    ("nvidia-smi-table/h200-590.48.01-idle.txt", "590.48.01", [], ["5821"]),
    ("nvidia-smi-table/rtx5070-575.64.03-cuda-na.txt", "575.64.03", [], ["5821", "5747", "5703"]),
])
def test_driver_versions_of_the_corpus(rel, version, fixed, unfixed):
    facts = facts_of(rel)
    assert installed_driver(facts)[0] == version
    f, u = driver_findings(version)
    assert [b.id for b, _ in f] == fixed and [b.id for b in u] == unfixed
    r = run("security_nvidia_driver", facts)
    assert r.status.value == "warn"
    newest = (fixed or unfixed)[0]
    assert f"bulletin {newest}" in r.summary


def test_drivers_at_or_above_the_newest_fix_pass():
    for rel in ("nvidia-smi-table/rtx4080super-595.71.05-load.txt", "nvidia-smi-table/rtx2080super-610.57.04-idle.txt"):
        r = run("security_nvidia_driver", facts_of(rel))
        assert r.status.value == "pass", (rel, r.summary)


def test_fine_for_cuda_but_below_the_branch_fix_is_a_warn_naming_the_bulletin():
    facts = facts_of("nvidia-smi-q-xml/a100-sxm4-80gb-mig-535.54.03.txt")  # R535: CUDA 12.2's own driver
    r = run("security_nvidia_driver", facts)
    assert r.status.value == "warn"
    assert r.summary.startswith("driver 535.54.03 is below R535's fixed version 535.309.01 of NVIDIA bulletin 5821")
    assert r.fix.manual and "535.309.01" in r.fix.summary


def test_no_driver_or_no_toolkit():
    empty = facts_from_bundle(Bundle())
    assert run("security_nvidia_driver", empty).status.value == "unknown"
    assert run("security_nvidia_toolkit", empty).status.value == "unknown"


OLD_DRIVER = "tests/data/corpus/proc-driver-version/proprietary-470.223.02-ubuntu20.04.txt"


def driver_block(*args: str) -> list[str]:
    """security_nvidia_driver's lines as `check --from` prints them: its own line and what is indented under it."""
    out = CliRunner().invoke(main, ["check", "--from", OLD_DRIVER, *args]).output
    lines = out.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.rstrip().endswith("(security_nvidia_driver)"))
    indent = len(lines[i]) - len(lines[i].lstrip())
    block = [lines[i]]
    for ln in lines[i + 1:]:
        if len(ln) - len(ln.lstrip()) <= indent:
            break
        block.append(ln)
    return block


def test_an_old_driver_reads_as_one_line_per_fact_and_names_the_branches_to_move_to():
    """Issue 20: 'supported branches:' was empty, the fix said 'a branch the bulletins still fix ()' and named
    a check that does not exist, and up to 16 bulletins were listed as bullets on every paste."""
    block = driver_block()
    text = "\n".join(block)
    assert "supported branches: R595, R580, R535" in block[0]
    bullets = [ln.strip() for ln in block if ln.strip().startswith("•")]
    assert bullets == ["• driver 470.223.02 (/proc/driver/nvidia/version)",
                       "• 9 of the 16 driver bulletins read on 2026-12-01 apply; the newest: bulletin 5821 (GPU Display "
                       "Driver - May 2026, 2026-05-19): no R470 version listed (fixed branches: R595, R580, R535); "
                       "earlier branches might also be affected (-v lists them all)"]
    assert "Move to a branch NVIDIA still fixes (R595, R580 or R535)" in text and "()" not in text
    assert "(driver_cuda_compat)" in text and "cuda_driver_compat" not in text
    assert "· bulletin" not in text


def test_v_lists_every_bulletin_that_applies():
    listed = [ln.strip() for ln in driver_block("-v") if ln.strip().startswith("· bulletin")]
    assert [ln.split()[2] for ln in listed] == ["5821", "5747", "5703", "5670", "5630", "5614", "5586", "5551", "5520"]
    assert "· bulletin 5551 (NVIDIA GPU Display Driver - June 2024, 2024-06-06): R470 fixed in 470.256.02" in listed[7]
    assert all("fixed branches: )" not in ln for ln in listed)
    doc = json.loads(CliRunner().invoke(main, ["check", "--from", OLD_DRIVER, "--json"]).output)
    r = next(c for c in doc["hosts"][0]["checks"] if c["id"] == "security_nvidia_driver")
    assert len(r["details"]) == 9 and len(r["evidence"]) == 2
