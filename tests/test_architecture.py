"""The layering of docs/architecture.md, checked on the source: who may import mlflow and optuna,
no private library attributes, modules small enough to hold in one's head."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(PACKAGE.parent)): ast.parse(path.read_text())
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_adapters_import_mlflow_and_optuna():
    found = modules()
    assert {m for m, tree in found.items() if "mlflow" in imported(tree)} <= {
        f"pipeline/adapters/tracking/{name}.py" for name in ("store", "runs", "models")
    }
    assert {m for m, tree in found.items() if "optuna" in imported(tree)} == {
        "pipeline/adapters/studies.py"
    }


def test_no_module_outside_the_adapter_reaches_mlflow_through_it():
    for name, tree in modules().items():
        if name.startswith("pipeline/adapters/tracking/"):
            continue
        source = ast.unparse(tree)
        assert ".client." not in source, f"{name} reaches MLflow's client"


def test_no_private_attribute_of_a_library_is_used():
    private = re.compile(r"\b(?:trial|study|storage|optuna|mlflow|torch)\w*\._[a-z]\w*")
    for path in PACKAGE.rglob("*.py"):
        assert not private.findall(path.read_text()), path


def test_modules_stay_small():
    sizes = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 400, sizes
    assert sizes["cli.py"] < 250
