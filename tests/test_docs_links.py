"""The docs hold together: every relative link resolves, and the README stays a front door.

The README points into docs/, and the docs point at each other, at the code and
at bench/RESULTS.md. A file moved or a heading renamed breaks a link silently;
these tests find it. Links inside fenced code blocks are examples, not links.
Anchors (``file.md#heading``) are checked against the headings of the target
file, made into ids the way GitHub does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "SECURITY.md"]
    found += sorted((ROOT / "docs").rglob("*.md"))
    return [path for path in found if path.exists()]


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link that is not a URL or a mail address."""
    links = []
    for number, line in prose_lines(path):
        # Inline code is an example too: `[x](y)` inside backticks is not a link.
        line = re.sub(r"`[^`]*`", "", line)
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # https:, mailto: and the like
            links.append((number, target))
    return links


def heading_ids(path: Path) -> set[str]:
    """GitHub's ids for the headings of ``path``: lower case, punctuation dropped, spaces to hyphens."""
    ids: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path):
        match = _HEADING.match(line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2)).replace("`", "").replace("*", "")
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


CASES = [(path, number, target) for path in documents() for number, target in relative_links(path)]


def _case_id(case) -> str:
    path, number, target = case
    return f"{path.relative_to(ROOT)}:{number}:{target}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_every_relative_link_points_at_an_existing_path(case):
    path, number, target = case
    file_part = target.split("#", 1)[0]
    if not file_part:
        return  # an anchor in the same file: checked below
    resolved = (path.parent / file_part).resolve()
    assert resolved.exists(), f"{path.relative_to(ROOT)}:{number}: {target} -> {resolved} does not exist"


@pytest.mark.parametrize("case", [case for case in CASES if "#" in case[2]], ids=_case_id)
def test_every_anchor_names_a_heading_of_its_file(case):
    path, number, target = case
    file_part, anchor = target.split("#", 1)
    resolved = (path.parent / file_part).resolve() if file_part else path
    if resolved.suffix != ".md" or not resolved.is_file():
        return  # not markdown (or missing: the test above says so)
    assert anchor in heading_ids(resolved), (
        f"{path.relative_to(ROOT)}:{number}: {target}: no heading with id {anchor!r} in {resolved.relative_to(ROOT)}"
    )


def test_the_readme_is_a_front_door_under_200_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_docs_are_found():
    # An empty parametrisation would pass silently: make sure the documents are there.
    names = {path.relative_to(ROOT).as_posix() for path in documents()}
    assert {"README.md", "CONTRIBUTING.md", "SECURITY.md", "docs/README.md"} <= names
    assert CASES, "no relative links found at all"


# --- the reference tables in docs/operations.md cover everything -------------------------------

OPERATIONS = ROOT / "docs" / "operations.md"


def table_cells(heading: str) -> str:
    """The first column of every table row under ``## heading``, up to the next heading of that level."""
    text = OPERATIONS.read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line.split(" | ")[0] for line in section.splitlines() if line.startswith("| "))


def test_every_command_is_in_the_command_table():
    import click

    from streams.cli import cli

    listed = table_cells("The command line")
    missing = []
    for name, command in cli.commands.items():
        names = [f"{name} {sub}" for sub in command.commands] if isinstance(command, click.Group) else [name]
        missing += [full for full in names if f"`modwatch {full}" not in listed]
    assert not missing, f"commands missing from docs/operations.md's command table: {missing}"


def test_every_web_route_is_in_the_web_table():
    import re

    routes = re.findall(r'@app\.page\("([^"]+)"\)', (ROOT / "streams" / "web.py").read_text())
    for module in ("web_lists.py", "console/views.py"):
        routes += re.findall(r'@app\.page\("([^"]+)"\)', (ROOT / "streams" / module).read_text())
    listed = table_cells("Web API")
    missing = [route for route in routes if not re.search(rf"(GET|POST) {re.escape(route)}[`?]", listed)]
    assert routes and not missing, f"routes missing from docs/operations.md's web table: {missing}"


def test_every_metric_is_in_the_metrics_table():
    from prometheus_client import CollectorRegistry

    from streams.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    names = {metric.name for metric in registry.collect()}
    text = OPERATIONS.read_text()
    missing = sorted(
        name for name in names if not any(f"| `{name}{suffix}` |" in text for suffix in ("", "_total", "_info"))
    )
    assert names and not missing, f"metrics missing from docs/operations.md's metrics table: {missing}"
