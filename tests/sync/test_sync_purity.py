"""The sync core is pure: no network, database or web libraries, so decisions test as tables."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cosell.sync.core

PACKAGE = Path(cosell.sync.core.__file__).parent
PURE = sorted(PACKAGE.glob("*.py"))  # every module in the folder, new ones included
FORBIDDEN = {
    "httpx",
    "httpcore",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "psycopg",
    "alembic",
    "msal",
    "requests",
    "socket",
    "urllib",
    "click",
    "rich",
    "cosell.clients",
    "cosell.store",
    "cosell.web",
    "cosell.queue",
}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


@pytest.mark.parametrize("path", PURE, ids=[p.name for p in PURE])
def test_pure_modules_import_no_io_library(path: Path) -> None:
    assert not {n for n in imported(path) if forbidden(n)}


def test_importing_the_sync_core_loads_no_io_library() -> None:
    modules = ", ".join(f"cosell.sync.core.{p.stem}" for p in PURE if p.stem != "__init__")
    code = f"import sys, {modules}; print('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    stdlib = ("socket", "urllib")  # the standard library may load these; we never import them
    assert not {n for n in loaded if forbidden(n) and not n.startswith(stdlib)}
