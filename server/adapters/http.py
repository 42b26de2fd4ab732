"""The shared outbound HTTP client (one connection pool per process)."""

import sys

import httpx

HttpClient = httpx.AsyncClient

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore 1.0.9 runs `import sniffio` for every lock it sets up (several per request), and
    # anyio 4 no longer installs sniffio: each failed import searched sys.path again, which
    # halved the requests per second a relay could make (tests/bench/bench_broadcast.py).
    # A None entry makes the import fail at once, the way httpcore expects ("asyncio").
    sys.modules["sniffio"] = None  # type: ignore[assignment]


def new_http_client() -> httpx.AsyncClient:
    """Short timeouts: WeChat answers fast or not at all, and callers retry with back-off."""
    return httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))
