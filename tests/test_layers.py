"""The rooms and floors of DESIGN.md: imports point down, never up, and rooms on one floor do not import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "segen"
#: `errors` is the ground every room stands on; the command line is the one door to the demo and the web
#: app, so it sits just above them; the package `__init__` re-exports the public API and `__main__`
#: (`python -m segen`, what torchrun runs) starts the command line.
FLOORS = {"errors": 0, "config": 1, "runtime": 1, "preprocess": 1, "nn": 1,
          "checkpoint": 2, "models": 2, "losses": 2, "metrics": 2, "data": 2, "reports": 2,
          "training": 3, "inference": 3, "export": 3,
          "serve": 4, "demo": 4, "cli": 4.5, "__main__": 5, "__init__": 5}


def _room(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imported_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "segen")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("segen.")}


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    room = _room(path)
    assert room in FLOORS, f"{room} is not a room of DESIGN.md"
    for other in _imported_rooms(path) - {room}:
        assert other in FLOORS, f"{path.name} imports unknown room {other}"
        assert FLOORS[other] < FLOORS[room], f"{room} (floor {FLOORS[room]}) imports {other} (floor {FLOORS[other]})"


def test_no_source_file_is_over_450_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert not long
