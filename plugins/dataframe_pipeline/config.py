"""Declarative pipeline configuration files (``include/configs/*.yaml``). Light: safe at DAG parse time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dataframe_pipeline.core.settings import PROJECT_DIR
from dataframe_pipeline.exceptions import ConfigurationError

CONFIG_DIR = PROJECT_DIR / "include" / "configs"


def load_pipeline_config(name: str, steps: tuple[str, ...] = ("clean", "enrich", "refine")) -> dict[str, Any]:
    """Load ``include/configs/<name>.yaml`` and check each step holds a list of ``{transform: params}``."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else CONFIG_DIR / f"{name}.yaml"
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigurationError("config", str(path), "no such file") from err
    except yaml.YAMLError as err:
        raise ConfigurationError("config", str(path), f"invalid YAML: {err}") from err
    if not isinstance(config, dict):
        raise ConfigurationError("config", str(path), "must be a mapping of step -> transforms")
    for step in steps:
        chain = config.get(step)
        if not isinstance(chain, list) or not all(isinstance(t, dict) and len(t) == 1 for t in chain):
            raise ConfigurationError(f"{path.name}:{step}", chain, "must be a list of {transform: params}")
    return config
