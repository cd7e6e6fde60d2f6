"""The architecture as documented is the architecture as checked: docs/architecture.md and the import contracts."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STRIV = REPO / "striv"
PICTURE = (REPO / "docs" / "architecture.md").read_text().split("```", 2)[1]


def contracts() -> list[dict]:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["importlinter"]["contracts"]


def test_the_picture_draws_the_app_layers_of_the_contract_in_order():
    layers = next(contract["layers"] for contract in contracts() if contract["type"] == "layers")
    positions = []
    for layer in layers:
        for module in re.split(r"\s*[|:]\s*", layer):
            name = module.removeprefix("striv.") + "/"
            assert name in PICTURE, f"{name} is a layer of the contract but not in docs/architecture.md"
            positions.append(PICTURE.index(name))
    assert positions == sorted(positions), "docs/architecture.md draws the layers in another order than the contract"


def test_every_package_of_striv_is_in_the_picture_and_in_a_contract():
    packages = sorted(p.name for p in STRIV.iterdir() if (p / "__init__.py").exists())
    modules = sorted(p.stem for p in STRIV.glob("*.py") if p.stem not in ("__init__", "settings", "urls", "wsgi"))
    checked = " ".join(
        " ".join(contract.get("layers", []) + contract.get("source_modules", [])) for contract in contracts()
    )
    for name in packages:
        assert f"{name}/" in PICTURE, f"striv/{name}/ is missing from docs/architecture.md"
        assert f"striv.{name}" in checked, f"striv.{name} is in no import contract"
    for name in modules:
        assert f"{name}.py" in PICTURE, f"striv/{name}.py is missing from docs/architecture.md"
        assert f"striv.{name}" in checked, f"striv.{name} is in no import contract"


def test_the_import_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_no_module_passes_four_hundred_lines_unless_it_says_why():
    for path in STRIV.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().splitlines()
        if len(lines) > 420:
            opening = "\n".join(lines[:20]).lower()
            assert "longer than most on purpose" in opening, f"{path.relative_to(REPO)} has {len(lines)} lines"
