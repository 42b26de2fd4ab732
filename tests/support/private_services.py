"""Private PostgreSQL, Redis and Mosquitto servers a fault test may stop and restart.

The shared services of CI's real-services mode serve every other test: a test that kills a
server gets its own, on a free loopback port, from the same binaries (Debian's packages).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def missing_binaries() -> list[str]:
    wanted = {"initdb": _pg_bin("initdb"), "pg_ctl": _pg_bin("pg_ctl")}
    wanted |= {name: shutil.which(name) for name in ("redis-server", "mosquitto")}
    return sorted(name for name, path in wanted.items() if path is None)


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _as_postgres_user() -> dict[str, object]:
    """initdb and postgres refuse to run as root: drop to the `postgres` user when root."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


@dataclass
class PrivatePostgres:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [str(_pg_bin("pg_ctl")), "-D", str(self.directory / "data"), "-w", "-t", "30", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **_as_postgres_user(),  # type: ignore[arg-type]
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.directory / "log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster in its own /tmp directory (a test's tmp_path is closed to `postgres`)."""
    directory = Path(tempfile.mkdtemp(prefix="wuye-pg-"))
    owner = _as_postgres_user()
    if owner:
        os.chown(directory, int(owner["user"]), int(owner["group"]))  # type: ignore[call-overload]
    subprocess.run(
        [str(_pg_bin("initdb")), "-D", str(directory / "data"), "-U", "postgres", "-A", "trust"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **owner,  # type: ignore[arg-type]
    )
    server = PrivatePostgres(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class PrivateProcess:
    """A server started from a command line on a fixed port; restartable on the same port."""

    command: list[str]
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    async def restart(self, down_s: float) -> None:
        self.stop()
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.start)


@contextmanager
def private_redis() -> Iterator[PrivateProcess]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = PrivateProcess([*command, "--appendonly", "no"], port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def private_mosquitto(tmp: Path) -> Iterator[PrivateProcess]:
    port = free_port()
    config = tmp / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n")
    server = PrivateProcess(["mosquitto", "-c", str(config)], port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
