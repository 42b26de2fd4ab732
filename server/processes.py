"""Read process definitions from config/processes/*.yaml and hand plain dicts to the domain."""

from __future__ import annotations

from pathlib import Path

import yaml

from server.domain.process import ProcessDefinition, ProcessDefinitionError, load_definition

PROCESS_DIR = Path(__file__).resolve().parent.parent / "config" / "processes"


def load_process_file(path: Path) -> ProcessDefinition:
    """Load and validate one definition; errors name the file so an editor can find them."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProcessDefinitionError([f"{path.name}: cannot read: {exc}"]) from None
    try:
        defn = load_definition(raw)
    except ProcessDefinitionError as exc:
        raise ProcessDefinitionError(f"{path.name}: {p}" for p in exc.problems) from None
    if defn.kind != path.stem:
        # One file per kind, named after it, so "where is the repair process?" has one answer.
        raise ProcessDefinitionError([f"{path.name}: kind {defn.kind!r} must match the file name"])
    return defn


def load_processes(directory: Path = PROCESS_DIR) -> dict[str, ProcessDefinition]:
    """Every definition in `directory` by kind; all files' problems are reported together."""
    definitions: dict[str, ProcessDefinition] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            defn = load_process_file(path)
        except ProcessDefinitionError as exc:
            problems.extend(exc.problems)
            continue
        definitions[defn.kind] = defn
    if problems:
        raise ProcessDefinitionError(problems)
    return definitions
