"""What the gateway keeps on disk so a restart or a dead link changes nothing on site.

- `policy.json`: the last policy snapshot, replaced atomically (write, fsync, rename), so a
  power cut leaves either the old or the new file, never half of one.
- `gateway.sqlite3` (stdlib sqlite3, WAL): the event buffer awaiting upload, the command ids
  already seen (QoS 1 duplicates execute once, even across a restart), and small flags such as
  the latched fire alarm.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

log = logging.getLogger("wuye.gateway.store")

POLICY_FILE = "policy.json"
DB_FILE = "gateway.sqlite3"
MAX_EVENTS = 200_000  # about a week of a busy site's events; the oldest go first beyond it
COMMAND_MEMORY_S = 86_400  # forget seen command ids this long after they expire

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (command_id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS flags (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """The gateway's state directory; one Store per running gateway."""

    def __init__(self, directory: Path, *, max_events: int = MAX_EVENTS) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self._db = sqlite3.connect(self.directory / DB_FILE, isolation_level=None)
        # WAL + NORMAL: a commit is durable against a process crash without an fsync per event.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._appended = 0

    def close(self) -> None:
        self._db.close()

    # ---- policy ------------------------------------------------------------------------------

    def load_policy(self) -> dict[str, Any] | None:
        """The last saved snapshot, or None when there is none or it cannot be read."""
        path = self.directory / POLICY_FILE
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.exception("cannot read %s, starting without a policy", path)
            return None
        return value if isinstance(value, dict) else None

    def save_policy(self, snapshot: dict[str, Any]) -> None:
        """Replace the saved snapshot atomically (safe to run in a thread)."""
        path = self.directory / POLICY_FILE
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(snapshot, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # make the rename itself durable
        finally:
            os.close(directory)

    # ---- event buffer ------------------------------------------------------------------------

    def append_event(self, event: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO events (body) VALUES (?)",
            (json.dumps(event, ensure_ascii=False, separators=(",", ":")),),
        )
        self._appended += 1
        if self._appended % 1000 == 0:
            self._trim()

    def _trim(self) -> None:
        over = self.event_count() - self.max_events
        if over > 0:
            log.warning("event buffer full: dropping the %d oldest events", over)
            self._db.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
                (over,),
            )

    def pending_events(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest `limit` buffered events as (seq, event)."""
        rows = self._db.execute(
            "SELECT seq, body FROM events ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def drop_events(self, seqs: list[int]) -> None:
        """Forget events the server has confirmed storing."""
        self._db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in seqs])

    def event_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    # ---- commands and flags ------------------------------------------------------------------

    def remember_command(self, command_id: str, expires_at: float, now: float) -> bool:
        """True the first time `command_id` is seen; False for a duplicate delivery."""
        self._db.execute("DELETE FROM commands WHERE expires_at < ?", (now - COMMAND_MEMORY_S,))
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO commands (command_id, expires_at) VALUES (?, ?)",
            (command_id, expires_at),
        )
        return cursor.rowcount == 1

    def get_flag(self, name: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_flag(self, name: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO flags (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value)),
        )
