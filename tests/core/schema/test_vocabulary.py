"""One vocabulary: the docs list exactly the values of pipeline/core/schema/vocabulary.py, and no
other module of the package spells a phase, a trial's end, a stop reason or an outcome as a bare
string (a typo there would be a branch that never runs, with no error)."""

import ast
import re
from enum import StrEnum
from pathlib import Path

import pytest

from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.vocabulary import (
    SAMPLERS,
    Outcome,
    Phase,
    StopReason,
    Tag,
    TrialEnd,
    UserAttr,
)

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "pipeline"
DOCS = ROOT / "docs" / "tracking-and-ui.md"
ENUMS: tuple[type[StrEnum], ...] = (Phase, TrialEnd, StopReason, Outcome, Tag, UserAttr)
# The values the source scan looks for: the tag and attr names are also column and field names.
VALUES = {str(member) for kind in (Phase, TrialEnd, StopReason, Outcome) for member in kind}
# Values that are also the name of a training key (`max_epochs`): a bare one is a key, unless
# the expression it stands in is about a stop reason.
SHARED_WITH_KEYS = VALUES & set(TrainConfig.model_fields)


def docs_table() -> dict[str, set[str]]:
    """The rows of the vocabulary table in docs/tracking-and-ui.md: enum name -> its values."""
    text = DOCS.read_text()
    section = text.split("## The vocabulary", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "`enum`":
            rows[cells[0].strip("`")] = set(re.findall(r"`([^`]+)`", cells[2]))
    return rows


def test_the_docs_table_lists_exactly_the_vocabulary():
    assert docs_table() == {kind.__name__: {str(m) for m in kind} for kind in ENUMS}


def test_the_sweep_docs_list_the_samplers():
    keys = (ROOT / "docs" / "sweep.md").read_text()
    listed = re.search(r"`sampler` \(((?:`[a-z]+`(?:, )?)+)\)", keys)
    assert listed is not None
    assert tuple(re.findall(r"`([a-z]+)`", listed.group(1))) == SAMPLERS


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that stand alone as statements (docstrings)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def _parents(tree: ast.Module) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _context(node: ast.AST, parents: dict[int, ast.AST]) -> str:
    """The source of the whole expression `node` stands in, with an assignment's targets; in a
    dict, its entry alone."""
    while not isinstance(parents.get(id(node)), ast.stmt | None):
        parent = parents[id(node)]
        if isinstance(parent, ast.Dict):
            entries = zip(parent.keys, parent.values, strict=True)
            entry = next((k, v) for k, v in entries if node is k or node is v)
            return " ".join(ast.unparse(part) for part in entry if part is not None)
        node = parent
    statement = parents.get(id(node))
    targets = getattr(statement, "targets", None) or [getattr(statement, "target", node)]
    return " ".join(ast.unparse(part) for part in [node, *targets])


def bare_words(source: str, name: str) -> list[str]:
    """`name:line 'value'` for each string literal of the vocabulary in `source` outside a
    docstring and the text of an f-string."""
    tree = ast.parse(source)
    skipped, parents = _docstrings(tree), _parents(tree)
    prose = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and node.value in VALUES):
            continue
        if id(node) in skipped | prose:
            continue
        if node.value in SHARED_WITH_KEYS and "stop_reason" not in _context(node, parents):
            continue
        found.append(f"{name}:{node.lineno} {node.value!r}")
    return found


def test_no_module_spells_the_vocabulary_as_a_bare_string():
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "core" / "schema" / "vocabulary.py"
        for hit in bare_words(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, "use pipeline.core.schema.vocabulary:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('if result.stop_reason == "diverged":\n    pass\n', 1),
        ('x.stop_reason = "max_epochs"\n', 1),
        ('keys = ("max_epochs", "patience")\n', 0),  # the training key, not the reason
        ('row = {"max_epochs": 3, "stop_reason": reason}\n', 0),
        ('tags = {"stop_reason": "max_epochs"}\n', 1),
        ('def f():\n    """Phases: grid."""\n    return "grid"\n', 1),
        ('message = f"{n} pruned at epoch {e}"\n', 0),
        ('label = "reference line"\n', 0),
    ],
)
def test_the_scan_tells_a_word_from_prose(source, expected):
    assert len(bare_words(source, "example.py")) == expected
