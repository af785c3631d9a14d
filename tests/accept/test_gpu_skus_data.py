"""envdoctor/data/gpu_skus.yaml: every figure has a source, every source a URL and the date it was read, and
GPUs are recognised by name with the same matcher (and the same answers) as the ResNet baselines."""

import re
from datetime import date

import pytest

from envdoctor.accept.models import Metric
from envdoctor.accept.skus import find_sku, sku_table
from envdoctor.knowledge import load
from envdoctor.proof.verdict import find_baselines

RAW = load("gpu_skus")


def test_the_table_validates_and_every_named_source_exists():
    table = sku_table()  # raises on a figure naming a source the table lacks
    assert len(table.skus) >= 15
    assert {s.id for s in table.skus} >= {"h100_sxm", "h100_pcie", "h100_nvl", "h200_sxm", "a100_sxm4_80gb",
                                          "a100_sxm4_40gb", "a100_pcie_80gb", "a100_pcie_40gb", "l40s", "a10",
                                          "a30", "v100", "t4", "rtx_4090", "rtx_3090"}


@pytest.mark.parametrize("sku", RAW["skus"], ids=lambda s: s["id"])
def test_every_bar_and_peak_has_a_source_and_a_date(sku):
    figures = [("bar", k, v) for k, v in (sku.get("bars") or {}).items()]
    figures += [("peak", k, v) for k, v in (sku.get("peaks") or {}).items()]
    figures += [("pcie_min", "pcie_min", sku["pcie_min"])] if sku.get("pcie_min") else []
    assert figures, f"{sku['id']}: an entry with no figure at all"
    for kind, key, fig in figures:
        assert fig.get("sources"), f"{sku['id']} {kind} {key}: no source"
        for sid in fig["sources"]:
            src = RAW["sources"][sid]
            assert re.match(r"https://\S+$", src["url"]), sid
            read = date.fromisoformat(src["read"])  # the date the figure was read, an ISO date
            assert date(2025, 1, 1) <= read <= date.today(), sid
            assert src["what"].strip() and src["title"].strip(), sid


@pytest.mark.parametrize("sku", RAW["skus"], ids=lambda s: s["id"])
def test_bars_are_metrics_envdoctor_measures_and_in_order(sku):
    for key, bar in (sku.get("bars") or {}).items():
        Metric(key)
        if bar.get("fail_below") is not None and bar.get("warn_below") is not None:
            assert bar["fail_below"] <= bar["warn_below"], (sku["id"], key)
        if bar.get("reference") is not None:
            # a bar derived from a published measurement sits below it
            assert bar["fail_below"] < bar["reference"], (sku["id"], key)


def test_every_source_is_used():
    used = {s for sku in RAW["skus"] for f in [*(sku.get("bars") or {}).values(), *(sku.get("peaks") or {}).values(),
                                              *([sku["pcie_min"]] if sku.get("pcie_min") else [])]
            for s in f["sources"]}
    assert used == set(RAW["sources"])


# Names as nvidia-smi and torch print them.
NAMES = {
    "NVIDIA H100 80GB HBM3": "h100_sxm",
    "NVIDIA H100 PCIe": "h100_pcie",
    "NVIDIA H100 NVL": "h100_nvl",
    "NVIDIA H200": "h200_sxm",
    "NVIDIA GH200 480GB": None,  # Grace Hopper: not an H200
    "NVIDIA H200 NVL": None,
    "NVIDIA A100-SXM4-80GB": "a100_sxm4_80gb",
    "NVIDIA A100-SXM4-40GB": "a100_sxm4_40gb",
    "NVIDIA A100 80GB PCIe": "a100_pcie_80gb",
    "NVIDIA A100-PCIE-40GB": "a100_pcie_40gb",
    "NVIDIA L40S": "l40s",
    "NVIDIA L40": None,
    "NVIDIA A10": "a10",
    "NVIDIA A10G": "a10g",
    "NVIDIA A30": "a30",
    "Tesla V100-SXM2-32GB": "v100",
    "Tesla V100-PCIE-16GB": "v100",
    "Tesla V100S-PCIE-32GB": "v100s",
    "Tesla T4": "t4",
    "NVIDIA GeForce RTX 4090": "rtx_4090",
    "NVIDIA GeForce RTX 4090 D": None,  # the cut-down variant, as in the ResNet baselines
    "NVIDIA GeForce RTX 3090": "rtx_3090",
    "NVIDIA GeForce RTX 3090 Ti": None,
    "NVIDIA GeForce RTX 2080 SUPER": None,
    None: None,
    "": None,
}


@pytest.mark.parametrize(("name", "sku_id"), NAMES.items())
def test_a_gpu_is_found_by_its_name(name, sku_id):
    sku = find_sku(name)
    assert (sku.id if sku else None) == sku_id


@pytest.mark.parametrize("name", ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H200",
                                  "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-40GB",
                                  "NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090 D", "NVIDIA A10"])
def test_the_two_per_gpu_tables_agree_on_which_gpu_a_name_is(name):
    """The SKU table and the ResNet baselines recognise a GPU the same way (one matcher): for a product both
    tables have, a name is filed under the same product in each, and a name neither knows is in neither."""
    baseline = find_baselines(name, "mixed")
    sku = find_sku(name)
    assert bool(baseline) == bool(sku), name
    if sku:
        first = baseline[0]["gpu"].lower().replace("sxm5", "sxm").replace("sxm4", "sxm")
        assert all(w in first for w in re.findall(r"h100|h200|a100|a10\b|4090|80gb|40gb|pcie|sxm", sku.gpu.lower())), \
            (name, first, sku.gpu)
