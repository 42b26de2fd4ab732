"""Signed, expiring API tokens (HMAC-SHA256 over a JSON body); session keys never go in them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: str, claims: dict[str, Any], ttl_s: int, now: float | None = None) -> str:
    body = dict(claims, exp=int((now or time.time()) + ttl_s))
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_token(secret: str, token: str, now: float | None = None) -> dict[str, Any] | None:
    """Claims of a valid, unexpired token; None for anything else."""
    try:
        payload, mac = token.split(".", 1)
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or claims.get("exp", 0) < (now or time.time()):
        return None
    return claims
