"""Every user-facing message: jinja2 templates under templates_msg/text, rendered strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

TEXT_DIR = Path(__file__).resolve().parent / "text"

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
