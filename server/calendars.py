"""Read config/sla.yaml (business calendars, holidays, assessment department) for the SLA clocks."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from server.domain.calendar import CalendarBook, CalendarError, load_calendar_book

SLA_FILE = Path(__file__).resolve().parent.parent / "config" / "sla.yaml"


def load_calendar_file(path: Path, tz_name: str) -> CalendarBook:
    """Load and validate one SLA settings file; problems name the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CalendarError([f"{path.name}: cannot read: {exc}"]) from None
    try:
        return load_calendar_book(raw or {}, tz_name)
    except CalendarError as exc:
        raise CalendarError([f"{path.name}: {p}" for p in exc.problems]) from None


@cache
def calendar_book(tz_name: str) -> CalendarBook:
    """The deployment's calendars in the business time zone, read once per process."""
    return load_calendar_file(SLA_FILE, tz_name)
