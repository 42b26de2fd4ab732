"""Dependency rules from STYLE.md, checked by walking imports so they stay true."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NETWORK_LIBS = {"httpx", "redis", "aiomqtt", "amqtt", "aliyunsdkcore", "fakeredis", "asyncpg"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_domain_is_pure_stdlib():
    allowed = set(sys.stdlib_module_names) | {"server"}
    for path in python_files("server/domain"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in allowed, f"{path.relative_to(ROOT)} imports {name}"
            if top == "server":
                assert name.startswith("server.domain"), f"{path} imports {name}"


def test_only_adapters_import_network_libraries():
    for folder in ("server", "bot", "hardware_gateway"):
        for path in python_files(folder):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("server/adapters/"):
                continue
            for name in imports_of(path):
                if folder == "hardware_gateway" and name.split(".")[0] in {"aiomqtt", "amqtt"}:
                    continue  # the gateway is its own process with its own MQTT client
                assert name.split(".")[0] not in NETWORK_LIBS, f"{rel} imports {name}"


def test_hardware_gateway_never_imports_server():
    for path in python_files("hardware_gateway"):
        for name in imports_of(path):
            assert name.split(".")[0] not in {"server", "bot"}, f"{path} imports {name}"


def test_no_aioredis_anywhere():
    for folder in ("server", "bot", "hardware_gateway", "tests"):
        for path in python_files(folder):
            assert "aioredis" not in {n.split(".")[0] for n in imports_of(path)}, path


CHINESE = re.compile(r"[\u4e00-\u9fff]")


def test_user_facing_chinese_lives_in_templates_not_code():
    """Chinese prose belongs in templates_msg/, vocabulary the bot reads in bot/ data files."""
    for folder in ("server", "bot", "hardware_gateway"):
        for path in python_files(folder):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if id(node) in docstrings:
                        continue
                    assert not CHINESE.search(node.value), (
                        f"{path.relative_to(ROOT)}:{node.lineno} has Chinese text in code"
                    )
