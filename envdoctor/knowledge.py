"""Reference data (the CUDA driver table, Xid meanings, ResNet baselines, ...), each a YAML file in
envdoctor/data/ with its source and date. Code reads knowledge from here, never from literals."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml


@lru_cache(maxsize=None)
def load(name: str) -> Any:
    """load("cuda_driver_table") -> the parsed envdoctor/data/cuda_driver_table.yaml."""
    return yaml.safe_load(files("envdoctor").joinpath("data", f"{name}.yaml").read_text())
