"""A GPU's entry in data/gpu_skus.yaml, found by its name the way the ResNet baselines are found."""

from __future__ import annotations

from functools import cache

from envdoctor.accept.models import GpuSku, SkuTable
from envdoctor.knowledge import gpu_name_matches, load


@cache
def sku_table() -> SkuTable:
    """The validated table (a figure naming a source the table lacks is an error of ours, raised here)."""
    return SkuTable.model_validate(load("gpu_skus"))


def find_sku(gpu_name: str | None, table: SkuTable | None = None) -> GpuSku | None:
    """The first entry whose `match` fits the name; None for a GPU the table does not know."""
    table = table or sku_table()
    return next((s for s in table.skus if gpu_name_matches(s.match, gpu_name)), None)


def cite(source_ids: list[str], table: SkuTable | None = None) -> list[str]:
    """Evidence lines naming where a figure comes from: "source: TITLE, read DATE: URL"."""
    table = table or sku_table()
    return [f"source: {table.sources[s].title}, read {table.sources[s].read}: {table.sources[s].url}"
            for s in source_ids]
