"""The docs say what the Makefile and the command line do: the targets they name are in `make
help`, the flags they give a stage are in its `--help`, the default ports they state are the
Makefile's and the CLI's, and a sweep table they show holds the numbers of the report it cites."""

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# A report a page cites for its sweep table: reports/results.md or reports/<study>/results.md.
REPORT = re.compile(r"reports/(?:[\w.-]+/)*results\.md")


def name(page: Path) -> str:
    return str(page.relative_to(REPO))


def commands(text: str) -> list[str]:
    """What a reader would type: each `code span` and each line of a fenced code block."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    return [line for block in blocks for line in block.splitlines()] + re.findall(
        r"`([^`\n]+)`", prose
    )


@functools.cache
def make_help() -> str:
    result = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@functools.cache
def stage_help(stage: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", stage, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"python -m pipeline {stage}: {result.stderr}"
    return result.stdout


def makefile_ports() -> dict[str, int]:
    """Each server target's default port, as its recipe passes it: `--port $(call q,$(or
    $(PORT),N))`, the value quoted as one word."""
    recipes = re.findall(
        r"^([a-z-]+):.*\n\t.*--port \$\(call q,\$\(or \$\(PORT\),(\d+)\)\)",
        (REPO / "Makefile").read_text(),
        re.M,
    )
    return {target: int(port) for target, port in recipes}


def test_every_target_the_docs_name_is_in_make_help():
    targets = set(re.findall(r"^  make ([a-z-]+) ", make_help(), re.M))
    missing = {
        (name(page), target)
        for page in DOCS
        for command in commands(page.read_text())
        for target in re.findall(r"(?:^|[;&|(]\s*)make ([a-z][a-z-]*)", command)
        if target not in targets
    }
    assert not missing, f"targets not in `make help`: {sorted(missing)}"


def stage_flags(text: str) -> list[tuple[str, str]]:
    """(stage, flag) for each flag given to `python -m pipeline STAGE`, in the command itself
    or in the `(flags: ...)` list that follows it in the same paragraph."""
    found = []
    for command in commands(text):
        for stage, rest in re.findall(r"python -m pipeline ([a-z]+)([^;&|]*)", command):
            found += [(stage, flag) for flag in re.findall(r"--[a-z][a-z-]*", rest)]
    for paragraph in text.split("\n\n"):
        stage = re.search(r"`python -m pipeline ([a-z]+)", paragraph)
        listed = re.search(r"\(flags: `([^`]+)`\)", paragraph)
        if stage and listed:
            found += [(stage.group(1), flag) for flag in listed.group(1).split()]
    return found


def test_every_flag_the_docs_give_a_stage_is_in_its_help():
    missing = {
        (name(page), stage, flag)
        for page in DOCS
        for stage, flag in stage_flags(page.read_text())
        if not re.search(rf"(^|[\s,]){re.escape(flag)}\b", stage_help(stage), re.M)
    }
    assert not missing, f"flags not in `python -m pipeline STAGE --help`: {sorted(missing)}"


def test_a_list_of_a_stage_s_flags_in_the_docs_names_them_all():
    """A `(flags: ...)` list says it is the whole set: it names every flag in the stage's
    `--help` but --help, --debug and the --no- forms."""
    for page in DOCS:
        for paragraph in page.read_text().split("\n\n"):
            stage = re.search(r"`python -m pipeline ([a-z]+)", paragraph)
            listed = re.search(r"\(flags: `([^`]+)`\)", paragraph)
            if not (stage and listed):
                continue
            helped = set(re.findall(r"(?<![\w-])--(?!no-)[a-z][a-z-]*", stage_help(stage[1])))
            missing = helped - {"--help", "--debug"} - set(listed.group(1).split())
            assert not missing, f"{name(page)}: the flags of {stage[1]} lack {sorted(missing)}"


def test_default_ports_agree_in_the_makefile_the_cli_and_the_docs():
    ports = makefile_ports()
    assert set(ports) == {"ui", "serve", "dashboard"}
    for target, port in ports.items():
        assert f"(default {port})" in stage_help(target) or f"default: {port}" in stage_help(
            target
        ), (target, port)
    stated = []
    for page in DOCS:
        text = " ".join(page.read_text().split())  # sentences across line breaks
        stated += [
            (name(page), target, int(port))
            for pattern in (
                r"`make (ui|serve|dashboard)` \(default [^)]*?PORT=(\d+)",
                r"`make (ui|serve|dashboard)` serves [^.]*? on http://127\.0\.0\.1:(\d+)",
                r"\| `make (ui|serve|dashboard) [^`]*?PORT=(\d+)` \|",
                r"`python -m pipeline (ui|serve|dashboard) [^`]*?\[--port (\d+)\]",
            )
            for target, port in re.findall(pattern, text)
        ]
    assert {target for _, target, _ in stated} == set(ports), stated
    wrong = [(page, target, port) for page, target, port in stated if port != ports[target]]
    assert not wrong, f"default ports the docs state, against the Makefile's {ports}: {wrong}"


def tables(text: str) -> list[list[list[str]]]:
    """The markdown tables of a page, each as rows of stripped cells, its header first."""
    found, rows = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip()):
                rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            found.append(rows)
            rows = []
    return found


def sweep_tables(page: Path) -> list[tuple[list[list[str]], Path]]:
    """Each sweep results table of a page, with the report it cites: the first
    `reports/.../results.md` named after the table (before the next heading), else before it."""
    text = page.read_text()
    found = []
    for table in tables(text):
        if table[0][:2] != ["activation", "best lr"]:
            continue
        at = text.index(" | ".join(table[0]))
        section_end = text.find("\n#", at)
        after = REPORT.findall(text[at : section_end if section_end >= 0 else len(text)])
        before = REPORT.findall(text[:at])
        cited = (after or before[-1:] or [None])[0]
        assert cited, f"{name(page)}: a sweep table that cites no reports/.../results.md"
        found.append((table, REPO / cited))
    return found


def report_rows(report: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The report's activations in order, and each one's cells from every table keyed by
    activation (the grid's, then the replicates'; a column's first table wins)."""
    keyed = [t for t in tables(report.read_text()) if t[0][0] == "activation"]
    order = [row[0] for row in keyed[0][1:]]
    rows: dict[str, dict[str, str]] = {a: {} for a in order}
    for table in keyed:
        for row in table[1:]:
            cells = dict(zip(table[0], row, strict=True))
            rows[row[0]] = {**cells, **rows.get(row[0], {})}
    return order, rows


@pytest.mark.parametrize("page", DOCS, ids=name)
def test_a_sweep_table_in_the_docs_holds_the_numbers_of_its_report(page):
    for table, report in sweep_tables(page):
        assert report.is_file(), f"{name(page)} cites {report}, which is not there"
        order, rows = report_rows(report)
        header = table[0]
        columns = set().union(*(row.keys() for row in rows.values()))
        assert set(header) <= columns, set(header) - columns
        assert [row[0] for row in table[1:]] == order, "the same activations, in order"
        for row in table[1:]:
            shown = dict(zip(header, row, strict=True))
            assert shown == {key: rows[row[0]][key] for key in header}, (name(page), row[0])


def test_the_readme_shows_a_sweep_table():
    """The check above has something to check: the README shows the default study's table, all
    six of the seed's activations, citing the committed report it was copied from."""
    cited = {report: table for table, report in sweep_tables(REPO / "README.md")}
    table = cited[REPO / "reports/activations/results.md"]
    activations = [row[0] for row in table[1:]]
    assert activations == ["sigmoid", "tanh", "relu", "leakyrelu", "elu", "swish"]
