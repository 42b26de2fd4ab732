"""Command line: serve, worker, migrate, import-roster, migrate-tasks, dev (CONTRACT.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from functools import partial
from pathlib import Path
from typing import Any

from server.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="web server: API, WeChat webhook, console")
    serve.add_argument("--workers", type=int, default=1, help="Sanic worker processes")
    sub.add_parser("worker", help="background loops: outbox relay, timers (any number may run)")
    sub.add_parser("migrate", help="apply database migrations")
    roster = sub.add_parser("import-roster", help="load or update master data from CSV files")
    roster.add_argument("directory", type=Path)
    sub.add_parser("dev", help="everything in one process on embedded defaults (make run)")
    moving = sub.add_parser("migrate-tasks", help="move running tasks to another process version")
    moving.add_argument("--kind", required=True, help="process kind, e.g. repair")
    moving.add_argument("--to-version", required=True, help="a version hash, or latest")
    moving.add_argument(
        "--map",
        nargs="*",
        default=[],
        metavar="OLD:NEW",
        help="where tasks in a state that changed name go",
    )
    moving.add_argument(
        "--clocks",
        required=True,
        choices=["keep", "restart"],
        help="keep their deadlines, or restart their SLA clocks from now",
    )
    moving.add_argument(
        "--from-version",
        action="append",
        default=[],
        help="only tasks on this version (repeatable); default: all others",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    if args.command == "serve":
        return serve_web(settings, args.workers)
    if args.command == "worker":
        return asyncio.run(run_worker(settings))
    if args.command == "migrate":
        return asyncio.run(migrate(settings))
    if args.command == "import-roster":
        return asyncio.run(import_roster(settings, args.directory))
    if args.command == "migrate-tasks":
        return asyncio.run(migrate_running_tasks(settings, args))
    return run_dev(settings)


async def migrate(settings: Settings) -> int:
    from server.db.migrate import migrate as apply

    _ensure_sqlite_dir(settings)
    await apply(settings.database_url)
    print(f"database is up to date: {_redact(settings.database_url)}")
    return 0


async def import_roster(settings: Settings, directory: Path) -> int:
    from server import db
    from server.actions.roster import import_roster as run_import

    if not directory.is_dir():
        print(f"no such directory: {directory}", file=sys.stderr)
        return 2
    await db.connect(settings.database_url)
    try:
        report = await run_import(directory)
    finally:
        await db.close()
    for problem in report.problems:
        print(problem, file=sys.stderr)
    for file, counts in report.counts.items():
        print(f"{file}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 1 if report.problems else 0


async def migrate_running_tasks(settings: Settings, args: argparse.Namespace) -> int:
    """`migrate-tasks`: move running tasks to a version (docs/processes.md, "Versions")."""
    import json
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from server import db
    from server.actions.versions import migrate_tasks
    from server.domain.versions import MigrationError, parse_state_map

    try:
        mapping = parse_state_map(args.map)
    except MigrationError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    await db.connect(settings.database_url)
    try:
        report = await migrate_tasks(
            args.kind,
            args.to_version,
            mapping,
            args.clocks,
            tz=ZoneInfo(settings.tz_name),
            from_versions=args.from_version,
            clock=lambda: datetime.now(UTC),
            progress=lambda r: print(f"moved {r.moved}, skipped {r.skipped}", file=sys.stderr),
        )
    except MigrationError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    finally:
        await db.close()
    print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 0


def serve_web(settings: Settings, workers: int) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from server.app import create_app

    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.http_host,
        port=settings.http_port,
        workers=workers,
        access_log=False,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


async def run_worker(settings: Settings) -> int:
    from server.services import Services
    from server.workers import run_loops

    services = await Services.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("wuye.worker").info("worker started")
    try:
        await run_loops(services, stop)
    finally:
        await services.close()
    return 0


def run_dev(settings: Settings) -> int:
    """`make run`: migrate, load the demo estate, then web + workers + broker in one process."""
    from sanic import Sanic

    from server.adapters.mqtt import start_broker
    from server.app import create_app
    from server.workers import run_loops
    from server.workers.gateway_sync import run_dev_sites

    asyncio.run(migrate(settings))
    if settings.demo_dir.is_dir():
        asyncio.run(import_roster(settings, settings.demo_dir))
    app = create_app(settings)
    stop = asyncio.Event()

    @app.after_server_start
    async def start_background(app: Sanic[Any, Any]) -> None:
        address, broker = await start_broker(settings.mqtt_url, settings.mqtt_embedded_port)
        app.ctx.broker = broker
        app.ctx.mqtt_address = address
        app.ctx.services.extras["mqtt_address"] = address  # where gateway_sync publishes
        app.add_task(run_loops(app.ctx.services, stop), name="worker-loops")
        app.add_task(
            run_dev_sites(app.ctx.services, address, settings.media_dir.parent / "gateway", stop),
            name="sites",
        )
        base = settings.own_base_url
        simulator = f"{base}/simulator" if settings.wechat_emulated else "off (WECHAT_API_BASE set)"
        print(
            f"\n  wuye is running (embedded defaults)\n"
            f"  health:          {base}/healthz\n"
            f"  API description: {base}/openapi.json\n"
            f"  WeChat webhook:  {base}/wechat/official\n"
            f"  chat simulator:  {simulator}\n"
            f"  WeChat emulator: {base}/_emulator/wechat/_calls\n"
            f"  SMS emulator:    {base}/_emulator/sms/_calls\n"
            f"  MQTT broker:     mqtt://{address.host}:{address.port}\n"
            f"  site gateways:   one per community, every device simulated\n",
            flush=True,
        )

    @app.before_server_stop
    async def stop_background(app: Sanic[Any, Any]) -> None:
        stop.set()
        if app.ctx.broker is not None:
            await app.ctx.broker.stop()

    app.run(
        host=settings.http_host,
        port=settings.http_port,
        single_process=True,
        access_log=False,
        motd=False,
    )
    return 0


def _ensure_sqlite_dir(settings: Settings) -> None:
    if settings.database_url.startswith("sqlite://"):
        Path(settings.database_url[len("sqlite://") :].split("?")[0]).parent.mkdir(
            parents=True, exist_ok=True
        )


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    sys.exit(main())
