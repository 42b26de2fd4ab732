"""The shared outbound HTTP client (one connection pool per process)."""

import httpx

HttpClient = httpx.AsyncClient


def new_http_client() -> httpx.AsyncClient:
    """Short timeouts: WeChat answers fast or not at all, and callers retry with back-off."""
    return httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))
