"""docs/capacity.md: every figure cites the bench/ command that produced it (issue 18).

The convention the doc keeps, and :func:`capacity_doc_problems` checks:

- **Tables.** A table with a number in its body has a ``source`` column. Each
  row with a number outside that column cites at least one bench command in
  backticks in it (``.venv/bin/python -m bench.bench_broker --mix realistic``
  or ``bench/bench_disk.py --posts 8000``), or says ``input``: a figure the
  plan chooses (a rate, a headroom, a replication factor), not a measurement.
  A figure derived from others cites the commands behind them.
- **Prose.** A number with a unit (posts/s, ms, GB, bytes, cores, ...) in a
  paragraph or list item either appears in one of the tables too, or its
  paragraph cites a bench command itself.
- **Commands.** Each cited script exists under bench/, and each ``--option``
  given is one its argparse parser declares (read from the script's
  ``add_argument`` calls, not run).
"""

from __future__ import annotations

import ast
import re
import shlex
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "capacity.md"
BENCH = ROOT / "bench"

# `python -m bench.bench_broker ...` or `bench/bench_broker.py ...`, inside backticks.
CODE_SPAN = re.compile(r"`([^`]+)`")
BENCH_SCRIPT = re.compile(r"-m\s+bench\.(\w+)|(?<![\w/])bench/(\w+)\.py")
NUMBER = r"(?<![\w.,/^-])((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
UNITS = (
    r"posts/s|posts a second|images/s|records/s|ms/post|ms|µs|s\b|seconds|minutes|hours|days|"
    r"B/post|B/record|B\b|bytes|KB|MB|GB|TB|PB|cores?|vCPUs?|workers?|partitions?|brokers?|%"
)
FIGURE = re.compile(NUMBER + r"\s*(?:" + UNITS + r")")
DIGIT = re.compile(r"\d")


def capacity_doc_problems(text: str, bench_dir: Path = BENCH, where: str = "docs/capacity.md") -> list[str]:
    """Every breach of the convention above in ``text``, one line each, naming the line."""
    problems: list[str] = []
    table_numbers: set[str] = set()
    prose: list[tuple[int, str]] = []
    for start, block in blocks(text):
        if block[0].lstrip().startswith("|"):
            problems += check_table(start, block, bench_dir, where, table_numbers)
        else:
            prose.append((start, " ".join(block)))
    for start, paragraph in prose:
        commands = bench_commands(paragraph)
        problems += [f"{where}:{start}: {problem}" for problem in command_problems(commands, bench_dir)]
        if commands:
            continue
        for match in FIGURE.finditer(paragraph):
            if normal(match.group(1)) not in table_numbers:
                problems.append(
                    f"{where}:{start}: {match.group(0)!r} is in no table and its paragraph cites no bench command"
                )
    return problems


def bench_commands(text: str) -> list[tuple[str, str]]:
    """(command, script name) of each code span in ``text`` that runs a bench/ script."""
    found = []
    for span in CODE_SPAN.findall(text):
        script = BENCH_SCRIPT.search(span)
        if script:
            found.append((span, script.group(1) or script.group(2)))
    return found


def blocks(text: str) -> list[tuple[int, list[str]]]:
    """Paragraphs, list items and tables with their first line number; code blocks and headings left out."""
    found: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start, fenced = 0, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            line = ""
        is_table = line.lstrip().startswith("|")
        new_item = re.match(r"\s*([-*]|\d+\.)\s", line) is not None
        # An indented line is code only where no paragraph runs on (Markdown's indented code block).
        indented_code = line.startswith("    ") and not current and not new_item
        ends = fenced or not line.strip() or line.startswith("#") or indented_code
        if current and (ends or new_item or is_table != current[0].lstrip().startswith("|")):
            found.append((start, current))
            current = []
        if not ends:
            start = start if current else number
            current.append(line)
    if current:
        found.append((start, current))
    return found


def check_table(start: int, rows: list[str], bench_dir: Path, where: str, table_numbers: set[str]) -> list[str]:
    header = cells(rows[0])
    body = [(start + index, row) for index, row in enumerate(rows) if index > 0 and not is_rule(row)]
    if not any(DIGIT.search(row) for _, row in body):
        return []
    if "source" not in [name.lower() for name in header]:
        return [f"{where}:{start}: a table of figures without a 'source' column"]
    column = [name.lower() for name in header].index("source")
    problems = []
    for number, row in body:
        values = cells(row)
        source = values[column] if column < len(values) else ""
        figures = " ".join(value for index, value in enumerate(values) if index != column)
        table_numbers.update(normal(found) for found in re.findall(NUMBER, figures))
        if not DIGIT.search(figures):
            continue
        commands = bench_commands(source)
        if not commands and not source.lower().startswith("input"):
            problems.append(f"{where}:{number}: row {values[0]!r} cites no bench command in its source column")
        problems += [f"{where}:{number}: {problem}" for problem in command_problems(commands, bench_dir)]
    return problems


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def is_rule(row: str) -> bool:
    return re.fullmatch(r"[\s|:-]+", row) is not None


def normal(number: str) -> str:
    return number.replace(",", "")


def command_problems(commands: list[tuple[str, str]], bench_dir: Path) -> list[str]:
    """A missing script, or an option its parser does not declare, for each cited command."""
    problems = []
    for command, name in commands:
        script = bench_dir / f"{name}.py"
        if not script.is_file():
            problems.append(f"cites {script.name}, which is not in bench/: `{command}`")
            continue
        accepted = declared_options(script) | {"--help", "-h"}
        for token in shlex.split(command.replace("[", " ").replace("]", " ")):
            option = token.split("=", 1)[0]
            if option.startswith("--") and option not in accepted:
                problems.append(f"{option} is not an option of bench/{script.name}: `{command}`")
    return problems


@cache
def declared_options(script: Path) -> frozenset[str]:
    """The option strings of every ``add_argument`` call in the script."""
    options = set()
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            options.update(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("-")
            )
    return frozenset(options)


# --- the doc itself ----------------------------------------------------------------------------


def test_every_figure_in_the_capacity_plan_cites_a_bench_command():
    assert capacity_doc_problems(DOC.read_text(encoding="utf-8")) == []


def test_the_capacity_plan_cites_the_disk_benchmark_and_the_broker_benchmark():
    cited = {name for _, name in bench_commands(DOC.read_text(encoding="utf-8"))}
    assert {"bench_disk", "bench_broker", "bench_hash_pool"} <= cited


# --- the checker fails on what it should ---------------------------------------------------------

GOOD = """\
| mix | posts/s per core | source |
| --- | ---: | --- |
| text only | 1,563 | `.venv/bin/python -m bench.bench_broker --posts 20000 --image-share 0` |
| plan rate | 2,000 | input: the issue's example |

A core scans 1,563 posts/s (table above).
"""


def test_a_table_row_whose_figures_each_cite_a_command_passes():
    assert capacity_doc_problems(GOOD) == []


def test_a_row_without_a_command_is_reported_with_its_line():
    broken = GOOD.replace("`.venv/bin/python -m bench.bench_broker --posts 20000 --image-share 0`", "measured")
    assert capacity_doc_problems(broken) == [
        "docs/capacity.md:3: row 'text only' cites no bench command in its source column"
    ]


def test_a_command_of_a_script_not_in_bench_is_reported():
    broken = GOOD.replace("bench.bench_broker", "bench.bench_throughput")
    assert capacity_doc_problems(broken) == [
        "docs/capacity.md:3: cites bench_throughput.py, which is not in bench/: "
        "`.venv/bin/python -m bench.bench_throughput --posts 20000 --image-share 0`"
    ]


def test_an_option_the_script_does_not_accept_is_reported():
    broken = GOOD.replace("--image-share 0", "--images 0")
    problems = capacity_doc_problems(broken)
    assert len(problems) == 1 and "--images is not an option of bench/bench_broker.py" in problems[0]


def test_a_script_path_is_checked_like_a_module():
    broken = GOOD.replace("`.venv/bin/python -m bench.bench_broker", "`bench/bench_disk.py --posts 8000 --replicas 3")
    problems = capacity_doc_problems(broken)
    assert [problem.split(": `")[0] for problem in problems] == [
        "docs/capacity.md:3: --replicas is not an option of bench/bench_disk.py",
        "docs/capacity.md:3: --image-share is not an option of bench/bench_disk.py",
    ]


def test_a_table_of_figures_without_a_source_column_is_reported():
    broken = "| mix | posts/s |\n| --- | ---: |\n| text only | 1,563 |\n"
    assert capacity_doc_problems(broken) == ["docs/capacity.md:1: a table of figures without a 'source' column"]


def test_a_prose_figure_in_no_table_and_without_a_command_is_reported():
    broken = GOOD + "\nA worker hashes 95 images/s.\n"
    assert capacity_doc_problems(broken) == [
        "docs/capacity.md:8: '95 images/s' is in no table and its paragraph cites no bench command"
    ]


def test_a_prose_figure_with_its_command_in_the_paragraph_passes():
    cited = GOOD + "\nA worker hashes 95 images/s\n(`.venv/bin/python -m bench.bench_hash_pool --repeats 3`).\n"
    assert capacity_doc_problems(cited) == []


def test_figures_in_code_blocks_and_headings_are_not_prose():
    text = GOOD + "\n## Scaling to 4 workers\n\n```\n12 partitions x 3 replicas = 36\n```\n"
    assert capacity_doc_problems(text) == []
