"""The bot's Chinese vocabulary: YAML files next to this module, read once per process."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed `<name>.yaml` of this folder; cached so every parse shares one copy."""
    with (HERE / f"{name}.yaml").open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_Loader)
    if not isinstance(data, dict):
        raise ValueError(f"lexicon {name}.yaml must hold a mapping")
    return data
