"""Storing site photos: JPEG/PNG only, at most 10 MB, on disk by sha256 (same photo = one file)."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from server.db.tasks import Photo

MAX_PHOTO_BYTES = 10 * 1024 * 1024
_SIGNATURES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


class PhotoRefused(Exception):
    """A photo we will not keep; `code` names a templates_msg text (photo_<code>)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def sniff(content: bytes) -> tuple[str, str]:
    """(content type, extension) from the file's own bytes: a client's Content-Type can lie."""
    for magic, kind in _SIGNATURES.items():
        if content.startswith(magic):
            return kind
    raise PhotoRefused("wrong_type")


def photo_path(media_dir: Path, sha256: str, extension: str) -> Path:
    """media/ab/cd/<sha256>.<ext>: the name is a hash we computed, never anything a user sent."""
    return media_dir / sha256[:2] / sha256[2:4] / f"{sha256}.{extension}"


async def store_photo(
    content: bytes,
    *,
    media_dir: Path,
    uploaded_by_kind: str,
    uploaded_by_id: int | None,
    now: datetime,
) -> Photo:
    """Check and write the file (atomically), then record it; the caller attaches it to a task."""
    if not content:
        raise PhotoRefused("empty")
    if len(content) > MAX_PHOTO_BYTES:
        raise PhotoRefused("too_large")
    content_type, extension = sniff(content)
    digest = hashlib.sha256(content).hexdigest()
    path = photo_path(media_dir, digest, extension)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
    return await Photo.create(
        sha256=digest,
        content_type=content_type,
        size=len(content),
        uploaded_by_kind=uploaded_by_kind,
        uploaded_by_id=uploaded_by_id,
        created_at=now,
    )


async def attach_photo(photo: Photo, task_id: int) -> None:
    """Attach a stored photo to a task (chat photos sent after the task exists)."""
    photo.task_id = task_id
    await photo.save(update_fields=["task_id"])
