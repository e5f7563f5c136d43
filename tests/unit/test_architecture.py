"""The layering of docs/architecture.md, enforced: imports point one way, downward.

    pipelines/commands/   command line, runner, privacy operations     (may import everything below)
    assets/, pipelines/   Dagster wiring                                 (imports the domain and schemas)
    reports/              domain code, never imports dagster             (imports schemas)
    schemas/              the contract                                   (imports none of the above)

Every import counts, including the ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "reports", "assets", "pipelines")
LAYERS = {"schemas": 0, "reports": 1, "assets": 2, "pipelines": 2, "pipelines.commands": 3}
LAYER_NAMES = {0: "schemas (the contract)", 1: "reports (domain)", 2: "Dagster wiring", 3: "command line"}
DAGSTER = ("dagster", "dagster_webserver", "dagster_postgres", "dagster_shared", "dagster_graphql")


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    for length in (2, 1):
        if ".".join(parts[:length]) in LAYERS:
            return LAYERS[".".join(parts[:length])]
    return None


def module_name(path: Path) -> str:
    relative = path.relative_to(REPOSITORY).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from reports import layout` imports reports.layout: count the module, not just the package
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def project_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPOSITORY / package).rglob("*.py"))


def violations_of(path: Path, importer: str | None = None) -> list[str]:
    importer = importer or module_name(path)
    own_layer = layer_of(importer)
    problems = []
    for line, imported in imported_modules(path):
        where = f"{importer}:{line} imports {imported}"
        if imported.split(".")[0] in DAGSTER and own_layer <= 1:
            problems.append(f"{where}: {LAYER_NAMES[own_layer]} never imports Dagster")
        target_layer = layer_of(imported)
        if target_layer is not None and target_layer > own_layer:
            problems.append(f"{where}: {LAYER_NAMES[own_layer]} may not import {LAYER_NAMES[target_layer]}")
    return problems


def test_every_project_module_has_a_layer():
    assert all(layer_of(module_name(path)) is not None for path in project_modules())


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_downward(package):
    problems = [
        p for path in project_modules() if module_name(path).split(".")[0] == package for p in violations_of(path)
    ]
    assert problems == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The test itself can fail: a domain module that imports Dagster wiring, or Dagster, is reported."""
    source = (REPOSITORY / "reports" / "warehouse" / "store.py").read_text()
    changed = tmp_path / "store.py"
    changed.write_text(
        source + "\n\ndef _late():\n    from pipelines.resources import DataRootResource\n    import dagster\n"
    )
    problems = violations_of(changed, "reports.warehouse.store")
    assert any("may not import Dagster wiring" in p for p in problems)
    assert any("never imports Dagster" in p for p in problems)
    assert violations_of(REPOSITORY / "reports" / "warehouse" / "store.py") == []
