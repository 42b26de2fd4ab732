"""Webhook throughput and latency next to raw Sanic, one worker each.

Run: `python -m tests.bench.bench_webhook`.

The issue's goal: the AES-mode webhook (signature, decrypt, parse, dedupe insert, handler,
encrypted reply) keeps at least 10% of a hello-world Sanic's throughput, with p99 <= 50 ms at
16 concurrent connections. Each server is a real process (`app.run(single_process=True)`); the
load comes from another process over keep-alive connections to 127.0.0.1, with every request
built before the clock starts. Bounded by request count and a deadline; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import Row

HOST = "127.0.0.1"  # the only address this benchmark ever talks to
ROOT = Path(__file__).resolve().parents[2]


# ---- servers (each runs in its own process) --------------------------------------------------


def serve_hello(port: int) -> None:
    """The baseline: Sanic answering a fixed text, nothing else."""
    from sanic import Sanic
    from sanic.response import text

    app = Sanic("bench_hello")

    @app.get("/")
    async def hello(request: Any) -> Any:
        return text("Hello, world!")

    app.run(host=HOST, port=port, single_process=True, access_log=False, motd=False)


def serve_webhook(port: int, database_url: str, handler: str) -> None:
    """The real app on a fresh migrated SQLite file; Services.start runs in its listener.

    handler "fixed" answers every message with the help text, so the figure is the push protocol
    and dedupe alone; "bot" keeps bot.handlers.handle as it is (the dialogue, once it exists).
    """
    import bot.handlers
    from server.app import create_app
    from server.db.migrate import migrate
    from server.settings import load_settings

    asyncio.run(migrate(database_url))
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": "memory://",
        "HTTP_HOST": HOST,
        "HTTP_PORT": str(port),
        "BOT_MESSAGES_PER_MINUTE": "1000000000",  # measure the bot, not the flood limit
    }
    if handler == "fixed":
        from templates_msg import render_text

        async def fixed(message: Any, services: Any) -> str | None:
            return render_text("help")

        bot.handlers.handle = fixed  # the webhook looks the handler up on every push
    app = create_app(load_settings(env=env))
    app.run(host=HOST, port=port, single_process=True, access_log=False, motd=False)


# ---- load generator (its own process) --------------------------------------------------------


def build_requests(kind: str, count: int, port: int) -> list[bytes]:
    """Raw HTTP/1.1 requests; webhook ones are unique encrypted text pushes (fresh MsgIds)."""
    if kind == "hello":
        return [f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()] * count
    from server.settings import load_settings
    from tests.support.wechat import WechatPusher

    pusher = WechatPusher.for_settings(load_settings(env={}))
    requests = []
    for i in range(count):
        openid = f"oBENCH{i % 500:020d}"
        signed = pusher.signed(pusher.text(openid, "5号楼2单元302卫生间漏水"), openid=openid)
        head = (
            f"POST {signed.url} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(signed.body)}\r\n\r\n"
        )
        requests.append(head.encode() + signed.body)
    return requests


async def roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def run_load(
    kind: str, port: int, count: int, warmup: int, concurrency: int, max_s: float
) -> dict[str, Any]:
    requests = build_requests(kind, warmup + count, port)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    samples: list[bytes] = []
    next_index = 0

    async def worker(limit: int, record: bool, deadline: float) -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while next_index < limit and time.perf_counter() < deadline:
                request = requests[next_index]
                next_index += 1
                started = time.perf_counter()
                status, body = await roundtrip(reader, writer, request)
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1
                    if len(samples) < 3:
                        samples.append(body)
        finally:
            writer.close()

    await asyncio.gather(
        *(worker(warmup, False, time.perf_counter() + max_s) for _ in range(concurrency))
    )
    started = time.perf_counter()
    deadline = started + max_s
    await asyncio.gather(*(worker(warmup + count, True, deadline) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    return {
        "kind": kind,
        "count": len(latencies),
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0,
        "statuses": statuses,
        "samples": [s.decode(errors="replace") for s in samples],
    }


# ---- orchestration ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout_s} s")


def cpu_plan() -> tuple[int, int]:
    """One CPU for the server (and its driver thread), another for the load: same placement for
    both servers, so neither figure depends on where the scheduler happened to put them."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return -1, -1
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (-1, -1)


def measure(
    server_args: list[str], kind: str, args: argparse.Namespace, count: int | None = None
) -> dict[str, Any]:
    port = free_port()
    me = [sys.executable, "-m", "tests.bench.bench_webhook"]
    server_cpu, load_cpu = cpu_plan()
    server = subprocess.Popen(
        [*me, *server_args, "--port", str(port), "--cpu", str(server_cpu)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, server)
        count = count or args.hello_requests
        load = subprocess.run(
            [
                *me,
                "load",
                "--kind",
                kind,
                "--port",
                str(port),
                "--count",
                str(count),
                "--warmup",
                str(args.warmup),
                "--concurrency",
                str(args.concurrency),
                "--max-seconds",
                str(args.max_seconds),
                "--cpu",
                str(load_cpu),
            ],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=args.max_seconds * 2 + 60,
        )
        return dict(json.loads(load.stdout))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def check_webhook_replies(result: dict[str, Any]) -> str:
    """The answers must be real encrypted text replies, else the figures measure an error path."""
    from server.settings import load_settings
    from tests.support.wechat import WechatPusher

    pusher = WechatPusher.for_settings(load_settings(env={}))
    for body in result["samples"]:
        reply = pusher.read_reply(body)  # checks MsgSignature and the AppID, as WeChat does
        if (
            reply is None
            or reply.get("MsgType") != "text"
            or not reply.get("Content")
            or not str(reply.get("ToUserName", "")).startswith("oBENCH")
        ):
            return f"UNEXPECTED REPLY: {body[:200]!r}"
    if set(result["statuses"]) != {"200"}:  # JSON keys are strings
        return f"UNEXPECTED STATUSES: {result['statuses']}"
    return "replies are signed, encrypted text replies to the sender"


def orchestrate(args: argparse.Namespace) -> list[Row]:
    started = time.monotonic()
    # The baseline runs before and after the webhook and the faster run counts: other load on
    # the machine can only slow a run down, so this keeps the ratio on the conservative side.
    hello_before = measure(["serve-hello"], "hello", args)
    webhooks = []
    for handler, count in (("fixed", args.webhook_requests), ("bot", args.bot_requests)):
        with tempfile.TemporaryDirectory(prefix="wuye-bench-") as tmp:
            url = f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
            server = ["serve-webhook", "--database-url", url, "--handler", handler]
            webhooks.append(measure(server, "webhook", args, count))
    hello_after = measure(["serve-hello"], "hello", args)
    hello = max(hello_before, hello_after, key=lambda r: float(r["rps"]))

    server_cpu, load_cpu = cpu_plan()
    placement = f"; server on CPU {server_cpu}, load on CPU {load_cpu}" if server_cpu >= 0 else ""
    print(
        f"one Sanic worker each, {args.concurrency} keep-alive connections to 127.0.0.1, "
        f"load from a separate process{placement}"
    )
    print(
        f"{'server':<44}{'requests':>9}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'vs raw':>8}"
    )
    rows = (
        ("raw Sanic hello-world (best of 2)", hello),
        ("webhook AES+SQLite, fixed reply (protocol)", webhooks[0]),
        ("webhook AES+SQLite, bot.handlers (dialogue)", webhooks[1]),
    )
    for name, r in rows:
        ratio = r["rps"] / hello["rps"] if hello["rps"] else 0.0
        print(
            f"{name:<44}{r['count']:>9}{r['rps']:>9.0f}{r['p50_ms']:>8.2f}"
            f"{r['p99_ms']:>8.2f}{r['max_ms']:>8.2f}{ratio:>8.1%}"
        )
    for name, r in rows[1:]:
        ratio = r["rps"] / hello["rps"] if hello["rps"] else 0.0
        goals = (
            f"throughput >= 10% of raw: {'ok' if ratio >= 0.10 else 'MISSED'}, "
            f"p99 <= 50 ms: {'ok' if r['p99_ms'] <= 50 else 'MISSED'}"
        )
        print(f"goal, {name.split(', ')[1]}: {goals}; check: {check_webhook_replies(r)}")
    print(f"total {time.monotonic() - started:.0f} s")
    table = []
    for name, r in rows:
        ratio = r["rps"] / hello["rps"] if hello["rps"] else 0.0
        table.append(Row(f"{name}: throughput", r["rps"], "req/s", f"{ratio:.1%} of raw Sanic"))
        table.append(Row(f"{name}: p99", r["p99_ms"], "ms", f"p50 {r['p50_ms']:.2f} ms"))
    return table


def main(argv: list[str] | None = None) -> list[Row] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "serve-hello", "serve-webhook", "load"]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--kind", choices=["hello", "webhook"], default="hello")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--hello-requests", type=int, default=20_000)
    parser.add_argument("--webhook-requests", type=int, default=8_000)
    parser.add_argument("--bot-requests", type=int, default=3_000)
    parser.add_argument("--handler", choices=["fixed", "bot"], default="fixed")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--cpu", type=int, default=-1, help="pin this process to one CPU")
    args = parser.parse_args(argv)
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    if args.command == "serve-hello":
        serve_hello(args.port)
    elif args.command == "serve-webhook":
        serve_webhook(args.port, args.database_url, args.handler)
    elif args.command == "load":
        result = asyncio.run(
            run_load(
                args.kind, args.port, args.count, args.warmup, args.concurrency, args.max_seconds
            )
        )
        json.dump(result, sys.stdout)
    else:
        return orchestrate(args)
    return None


if __name__ == "__main__":
    main()
