"""Every user-facing message: jinja2 texts under text/ plus catalog.yaml for channel shapes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

HERE = Path(__file__).resolve().parent
TEXT_DIR = HERE / "text"
TEMPLATE_FIELD_MAX = 20  # WeChat template rules since 2023-05: each value at most 20 characters

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEXT_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_text(name: str, **values: Any) -> str:
    """Render text/<name>.j2; a missing variable is an error, never a blank in a user's message."""
    return _env.get_template(f"{name}.j2").render(**values).strip()


def text_names() -> list[str]:
    return sorted(p.stem for p in TEXT_DIR.glob("*.j2"))


@dataclass(frozen=True)
class Rendered:
    """One message kind rendered for every channel it supports."""

    kind: str
    text: str
    template_fields: dict[str, str]
    page: str
    sms_params: dict[str, str] | None
    urgent: bool


@cache
def catalog() -> dict[str, dict[str, Any]]:
    with (HERE / "catalog.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def _one_line(value: str, limit: int) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render_message(kind: str, values: dict[str, Any]) -> Rendered:
    """Render a catalog entry; unknown kinds and undefined variables raise."""
    entry = catalog()[kind]

    def inline(source: str) -> str:
        return _env.from_string(source).render(**values)

    return Rendered(
        kind=kind,
        text=render_text(entry["text"], **values),
        template_fields={
            key: _one_line(inline(src), TEMPLATE_FIELD_MAX)
            for key, src in entry.get("template", {}).items()
        },
        page=inline(entry.get("page", "")),
        sms_params=(
            {k: _one_line(inline(v), TEMPLATE_FIELD_MAX) for k, v in entry["sms"].items()}
            if entry.get("sms") else None
        ),
        urgent=bool(entry.get("urgent", False)),
    )


@cache
def _labels() -> dict[str, dict[str, str]]:
    with (HERE / "labels.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def label(group: str, code: str) -> str:
    """The word people see for a code (category, state, clock, urgency); the code if unknown."""
    return _labels().get(group, {}).get(code, code)
