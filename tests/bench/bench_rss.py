"""Resident set size of the web server and of a worker, at idle and under load.

Run: `python -m tests.bench.bench_rss`.

Each process is the real command (`python -m server serve`, `python -m server worker`) on a
fresh migrated SQLite file with the demo roster, `memory://` Redis and the embedded broker, as
`make run` starts them. Idle = 5 s after it is ready; under load = the peak (VmHWM) while it
works: the server answers 3,000 encrypted webhook pushes at 16 connections (bench_webhook's
generator), the worker fires 20,000 SLA timers coming due over 5 s (bench_timers' seed). They
run one after the other: two processes on one SQLite file would lock each other (README,
"Known limits").
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.bench import Row
from tests.bench.bench_timers import count_fired, seed
from tests.bench.bench_webhook import free_port, run_load

ROOT = Path(__file__).resolve().parents[2]
PUSHES = 3_000
TIMERS = 20_000


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server", command],
        cwd=ROOT,
        env=dict(os.environ, **env, PYTHONUNBUFFERED="1"),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def migrate(env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "server", "migrate"]
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(port: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server did not answer /healthz on port {port}")


def measure_server(workdir: Path) -> list[Row]:
    url = f"sqlite://{workdir / 'server.sqlite3'}"
    port = free_port()
    env = {"DATABASE_URL": url, "REDIS_URL": "memory://", "HTTP_PORT": str(port)}
    env["BOT_MESSAGES_PER_MINUTE"] = "1000000000"  # 500 senders at full speed: not a flood
    migrate(env)
    subprocess.run(
        [sys.executable, "-m", "server", "import-roster", str(ROOT / "config" / "demo")],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    server = start("serve", env, workdir / "server.log")
    try:
        wait_healthy(port)
        time.sleep(5)
        idle, _ = memory_mb(server.pid)
        result = asyncio.run(run_load("webhook", port, PUSHES, 0, 16, 120.0))
        after, peak = memory_mb(server.pid)
    finally:
        stop(server)
    answered = result["statuses"].get(200, 0)
    return [
        Row("rss: server idle (python -m server serve)", idle, "MB"),
        Row(
            "rss: server peak under load",
            peak,
            "MB",
            f"{answered:,}/{PUSHES:,} AES pushes answered 200; {after:.0f} MB after",
        ),
    ]


def measure_worker(workdir: Path) -> list[Row]:
    url = f"sqlite://{workdir / 'worker.sqlite3'}"
    env = {"DATABASE_URL": url, "REDIS_URL": "memory://", "HTTP_PORT": str(free_port())}
    migrate(env)
    worker = start("worker", env, workdir / "worker.log")
    try:
        time.sleep(5)
        idle, _ = memory_mb(worker.pid)
        asyncio.run(seed(url, TIMERS, 5.0))
        deadline = time.monotonic() + 120
        fired = 0
        while time.monotonic() < deadline and fired < TIMERS:
            time.sleep(1)
            fired = asyncio.run(count_fired(url))
        after, peak = memory_mb(worker.pid)
    finally:
        stop(worker)
    return [
        Row("rss: worker idle (python -m server worker)", idle, "MB"),
        Row(
            "rss: worker peak under load",
            peak,
            "MB",
            f"{fired:,}/{TIMERS:,} timers fired; {after:.0f} MB after",
        ),
    ]


def main() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="wuye-rss-") as tmp:
        workdir = Path(tmp)
        try:
            rows = measure_server(workdir) + measure_worker(workdir)
        except Exception:
            for log in workdir.glob("*.log"):
                print(f"--- {log.name}:\n{log.read_text(errors='replace')[-3000:]}")
            raise
    for row in rows:
        print(row.format())
    return rows


if __name__ == "__main__":
    main()
