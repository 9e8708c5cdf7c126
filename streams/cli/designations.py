"""``modwatch designations``: the designated-organisation lists, and ``build-un`` to rebuild the UN one.

``designations``            coverage per jurisdiction: which lists count there, and how many
                            organisations have names in each language
``designations build-un``   config/designations.yaml from the UN Security Council list (detectors/unlist.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from streams.cli._options import config_option, existing_file_option

UN_SOURCE = Path(__file__).resolve().parents[2] / "detectors" / "datasets" / "un_sc"
LANGUAGES = ("en", "ur", "roman_ur", "ps")
COLUMNS = ("jurisdiction", "list", "applies", "organisations", *LANGUAGES, "review_only", "verified")
TEXT_COLUMNS = ("jurisdiction", "list", "applies", "verified")


@click.group(invoke_without_command=True)
@config_option()
@click.pass_context
def designations(context: click.Context, config_dir: Path | None) -> None:
    """Designated-organisation lists: with no subcommand, coverage per jurisdiction.

    For each jurisdiction of jurisdictions.yaml: the lists whose designations
    count there (the UN list everywhere, a national list in its own
    jurisdiction), how many organisations they designate, how many of those
    have names in each language, and whether the list is verified.
    """
    if context.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from detectors.configfile import Problems
    from detectors.designation_lists import load_all_designations
    from detectors.pipeline import load_jurisdictions
    from streams.settings import default_config_dir

    config_dir = config_dir or default_config_dir()
    problems = Problems()
    organisations = load_all_designations(config_dir, problems)
    jurisdictions, _ = load_jurisdictions(config_dir / "jurisdictions.yaml", problems)
    problems.raise_if_any()
    table = Table(title=f"Designations by jurisdiction ({config_dir})")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in TEXT_COLUMNS else "right")
    lists = _lists(organisations)
    for code in jurisdictions:
        for list_name, entry in sorted(lists.items()):
            if entry["jurisdiction"] in ("*", code):
                table.add_row(*_coverage_row(code, list_name, entry))
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def _lists(organisations) -> dict[str, dict]:
    """Per list name: the jurisdiction it applies in, whether it is verified, and its organisations by id."""
    lists: dict[str, dict] = {}
    for organisation in organisations:
        for designation in organisation.designations:
            entry = lists.setdefault(
                designation.list_name,
                {"jurisdiction": designation.jurisdiction, "organisations": {}, "verified": designation.verified},
            )
            entry["organisations"][organisation.id] = organisation
    return lists


def _coverage_row(code: str, list_name: str, entry: dict) -> list[str]:
    listed = entry["organisations"].values()
    languages = [sum(any(language == wanted for language, _ in o.aliases) for o in listed) for wanted in LANGUAGES]
    return [
        code,
        list_name,
        "everywhere" if entry["jurisdiction"] == "*" else code,
        str(len(listed)),
        *map(str, languages),
        str(sum(o.review_only for o in listed)),
        "yes" if entry["verified"] else "NO: compiled from public reports, verify",
    ]


@designations.command("build-un")
@existing_file_option(
    "--xml",
    "xml_path",
    default=UN_SOURCE / "consolidated_list_2024-09-26.xml.gz",
    show_default=True,
    help="UN Security Council Consolidated List XML (.xml or .xml.gz).",
)
@existing_file_option(
    "--overlay",
    default=UN_SOURCE / "overlay.yaml",
    show_default=True,
    help="modwatch's spellings, acronyms and exclusions applied on top.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here (default: standard output).",
)
def build_un(xml_path: Path, overlay: Path, out: Path | None) -> None:
    """Build designations.yaml from the UN 1267 and 1988 lists."""
    from detectors.unlist import build

    text = build(xml_path, overlay)
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
