"""Every user-facing message: jinja2 texts under text/ plus catalog.yaml for channel shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

HERE = Path(__file__).resolve().parent
TEXT_DIR = HERE / "text"
PAGES_DIR = HERE / "pages"  # HTML pages: the web console (server/console) and the chat simulator
TEMPLATE_FIELD_MAX = 20  # WeChat template rules since 2023-05: each value at most 20 characters
SMS_PARAM_MAX = 20
# Subscribe-message value limits by key type (mini-program "subscribeMessage.send" and the
# official account's "bizsend"): WeChat refuses a longer value with 47003 instead of cutting it.
SUBSCRIBE_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "phrase": 5,
    "name": 10,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "amount": 11,
    "phone_number": 17,
    "car_number": 8,
    "time": 20,
    "date": 20,
}
_KEY_TYPE = re.compile(r"^([a-z_]+?)\d+$")

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


@dataclass(frozen=True)
class Rendered:
    """One message kind rendered for every channel it supports."""

    kind: str
    text: str
    template_fields: dict[str, str]
    page: str
    sms_params: dict[str, str] | None
    urgent: bool
    subscribe_fields: dict[str, str] = field(default_factory=dict)


@cache
def catalog() -> dict[str, dict[str, Any]]:
    with (HERE / "catalog.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def _one_line(value: str, limit: int) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def subscribe_limit(key: str) -> int:
    """The longest value WeChat accepts for a typed subscribe key (`thing2` -> 20)."""
    match = _KEY_TYPE.match(key)
    return SUBSCRIBE_LIMITS.get(match.group(1), TEMPLATE_FIELD_MAX) if match else TEMPLATE_FIELD_MAX


@lru_cache(maxsize=512)
def _inline_template(source: str) -> jinja2.Template:
    # Compiling costs far more than rendering; a broadcast renders the same sources 10,000 times.
    return _env.from_string(source)


def render_message(kind: str, values: dict[str, Any]) -> Rendered:
    """Render a catalog entry; unknown kinds and undefined variables raise."""
    entry = catalog()[kind]

    def inline(source: str) -> str:
        return _inline_template(source).render(**values)

    return Rendered(
        kind=kind,
        text=render_text(entry["text"], **values),
        template_fields={
            key: _one_line(inline(src), TEMPLATE_FIELD_MAX)
            for key, src in entry.get("template", {}).items()
        },
        page=inline(entry.get("page", "")),
        sms_params=(
            {k: _one_line(inline(v), SMS_PARAM_MAX) for k, v in entry["sms"].items()}
            if entry.get("sms")
            else None
        ),
        urgent=bool(entry.get("urgent", False)),
        subscribe_fields={
            key: _one_line(inline(src), subscribe_limit(key))
            for key, src in entry.get("subscribe", {}).items()
        },
    )


@cache
def _labels() -> dict[str, dict[str, str]]:
    with (HERE / "labels.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def label(group: str, code: str) -> str:
    """The word people see for a code (category, state, clock, urgency); the code if unknown."""
    return _labels().get(group, {}).get(code, code)
