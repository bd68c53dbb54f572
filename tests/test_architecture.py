"""The layering of docs/architecture.md, checked on the source: each folder of pipeline/ is a
layer and imports only from its own layer or the layers below it, with no import cycle (imports
inside functions count); who may import mlflow and optuna; no private library attributes;
modules and functions small enough to hold in one's head."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "pipeline"
BENCHMARKS = REPO / "benchmarks"
# Bottom to top. A module may import from its own layer or any layer below it. The benchmarks
# sit above the package, as its command line does: they may use any layer, and none uses them.
LAYERS = ("core", "figures", "stages", "adapters", "workflows", "jobs", "cli", "benchmarks")
# The core's folders, one concern each (docs/architecture.md).
CORE = ("schema", "dataset", "network", "process")


def sources() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *BENCHMARKS.glob("*.py")])


def modules() -> dict[str, ast.Module]:
    """Dotted module name -> its syntax tree, for every module of the package and benchmark."""
    found = {}
    for path in sources():
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text())
    return found


def is_package(name: str, known: dict) -> bool:
    return (REPO / name.replace(".", "/") / "__init__.py").is_file()


def project_imports(name: str, tree: ast.Module, known: dict) -> set[str]:
    """The project's modules that `name` imports, anywhere in it (functions included);
    `from pipeline.x import y` counts as importing module `pipeline.x.y` where that exists."""
    package = name if is_package(name, known) else name.rpartition(".")[0]
    targets = set()
    ours = ("pipeline", "benchmarks")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names if alias.name.startswith(ours)}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith(ours):
                continue
            for alias in node.names:
                child = f"{base}.{alias.name}"
                targets.add(child if child in known else base)
    return {target for target in targets if target != name}


def layer(name: str) -> int:
    """The rank of a module's layer; the package root and __main__ sit above every layer."""
    parts = name.split(".")
    if parts[0] == "benchmarks":
        return LAYERS.index("benchmarks")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: project_imports(name, tree, known) for name, tree in known.items()}


def test_every_module_lives_in_a_layer():
    loose = [name for name in modules() if layer(name) == len(LAYERS)]
    assert sorted(loose) == ["pipeline", "pipeline.__main__"]


def test_no_layer_imports_a_layer_above_it():
    upward = [
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path, or None (depth-first search with colours)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node], _ = "done", path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_is_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_checks_catch_an_upward_import_and_a_cycle():
    """The two rules above fail where they should: a core module importing a job, and two
    modules of one layer importing each other."""
    assert layer("pipeline.jobs.sweep") > layer("pipeline.core.schema.config")
    graph = {"pipeline.jobs.a": {"pipeline.jobs.b"}, "pipeline.jobs.b": {"pipeline.jobs.a"}}
    assert find_cycle(graph) == ["pipeline.jobs.a", "pipeline.jobs.b", "pipeline.jobs.a"]
    tree = ast.parse("def f():\n    from pipeline.jobs import sweep\n")
    assert project_imports("pipeline.core.x", tree, {"pipeline.jobs.sweep": None}) == {
        "pipeline.jobs.sweep"
    }


def library_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("library", "adapter"),
    [("mlflow", "pipeline.adapters.tracking"), ("optuna", "pipeline.adapters.studies")],
)
def test_only_its_adapter_imports_a_library(library, adapter):
    users = {name for name, tree in modules().items() if library in library_imports(tree)}
    assert users and all(name.startswith(adapter) for name in users), users


def test_no_module_outside_the_adapter_reaches_mlflow_through_it():
    for name, tree in modules().items():
        if not name.startswith("pipeline.adapters.tracking"):
            assert ".client." not in ast.unparse(tree), f"{name} reaches MLflow's client"


def test_no_private_attribute_of_a_library_is_used():
    private = re.compile(r"\b(?:trial|study|storage|optuna|mlflow|torch)\w*\._[a-z]\w*")
    # nn.Module's own private state, reached from a subclass as self._modules and the like
    module_state = re.compile(r"\._(?:modules|parameters|buffers)\b")
    for path in sources():
        text = path.read_text()
        assert not private.findall(text) and not module_state.findall(text), path


def test_modules_and_functions_stay_small():
    sizes = {path: len(path.read_text().splitlines()) for path in sources()}
    assert max(sizes.values()) <= 400, max(sizes.items(), key=lambda item: item[1])
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 50
    ]
    assert not long, long


def test_the_core_is_cut_by_concern():
    """Every core module lives in one of the core's folders, each a package."""
    loose = [
        name
        for name in modules()
        if name.startswith("pipeline.core.") and name.split(".")[2] not in CORE
    ]
    assert not loose, loose
    assert all((PACKAGE / "core" / folder / "__init__.py").is_file() for folder in CORE)


# What reaches the network: a socket, an HTTP or FTP client, or a library's download.
NETWORK_MODULES = ("socket", "http", "urllib.request", "urllib3", "requests", "ftplib", "httpx")


def network_uses(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            found += [
                "download=" for k in node.keywords if k.arg == "download" and _is_true(k.value)
            ]
    return [
        name
        for name in found
        if name == "download="
        or any(name == m or name.startswith(f"{m}.") for m in NETWORK_MODULES)
    ]


def _is_true(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and value.value is True


def test_the_core_reaches_no_network():
    """Downloads are an adapter's (adapters/downloads.py), passed in where a job may download."""
    uses = {
        name: found
        for name, tree in modules().items()
        if name.startswith("pipeline.core") and (found := network_uses(tree))
    }
    assert not uses, uses
    adapter = ast.parse((PACKAGE / "adapters" / "downloads.py").read_text())
    assert network_uses(adapter) == ["download=", "download="]  # the check sees a download
    assert network_uses(ast.parse("from urllib.request import urlopen")) != []


def test_nothing_in_the_package_imports_a_benchmark():
    users = {
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        if source.startswith("pipeline")
        for target in targets
        if target.startswith("benchmarks")
    }
    assert not users and layer("benchmarks.bench") > layer("pipeline.cli.main"), users


# What Optuna's trials and studies carry: above the studies adapter a trial is the adapter's
# ClaimedTrial, and what a worker tells about it goes through the Study handle's own calls.
OPTUNA_NAMES = frozenset(
    {"Trial", "FrozenTrial", "optuna_study", "user_attrs", "set_user_attr", "system_attrs"}
    | {"set_system_attr"}
)
ABOVE_ADAPTERS = ("workflows", "jobs", "cli")


def optuna_names(tree: ast.AST) -> list[str]:
    """Optuna's trial types and attribute names a module's code writes (`studies.Trial`,
    `trial.user_attrs`, `trial.set_user_attr(...)`, `study.optuna_study`), with their lines."""
    found = []
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if isinstance(node, ast.alias):
            name = node.asname or node.name
        if name in OPTUNA_NAMES:
            found.append((node.lineno, name))
    return [f"{name} (line {line})" for line, name in sorted(found)]


def test_no_optuna_trial_crosses_the_studies_adapter():
    crossing = [
        f"{name}: {', '.join(found)}"
        for name, tree in modules().items()
        if name.split(".")[1:2] and name.split(".")[1] in ABOVE_ADAPTERS
        if (found := optuna_names(tree))
    ]
    assert not crossing, "Optuna's trials above the adapter:\n" + "\n".join(crossing)


def test_the_check_catches_an_optuna_trial():
    code = (
        "from pipeline.adapters.studies import Trial\n"
        "def f(trials: list[studies.Trial], study):\n"
        "    trials[0].set_user_attr('k', 1)\n"
        "    return trials[0].user_attrs, study.optuna_study\n"
    )
    found = sorted(name.split()[0] for name in optuna_names(ast.parse(code)))
    assert found == ["Trial", "Trial", "optuna_study", "set_user_attr", "user_attrs"]
    assert optuna_names(ast.parse("run.params(); best.params; config.number")) == []
