"""``modwatch export``: one takedown request as a DSA statement of reasons or a Lumen notice.

The request comes from a ledger file (JSON lines, raw records or the
``{topic, partition, offset, key, value}`` lines ``modwatch tail ledger``
prints). The latest record of the request (highest ``seq``) is exported; the
whole history says whether a reviewer approved it.

Ledger records (takedowns/lifecycle.py ``ledger_record``) carry every field the
exports read. A ledger written by an older modwatch may lack ``legal_basis``
and ``citation``: they are filled from config/jurisdictions.yaml (with a note
on standard error, since that is the basis as configured now, not as sent);
any other missing field stops the export with an error that names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson

from streams.cli._options import config_option, output_option
from takedowns import exports


def ledger_request(records: Iterable[dict], request_id: str) -> tuple[dict | None, bool]:
    """The latest ledger record of ``request_id`` (None if it has none), and whether a reviewer approved it."""
    latest = None
    reviewed = False
    for record in records:
        if not isinstance(record, dict) or record.get("request_id") != request_id:
            continue
        if latest is None or record.get("seq", 0) >= latest.get("seq", 0):
            latest = record
        cause = record.get("cause") or {}
        if cause.get("type") == "review" and cause.get("decision") == "approve":
            reviewed = True
    return latest, reviewed


def fill_legal_basis(record: dict, jurisdictions: dict) -> tuple[dict, list[str]]:
    """The record with ``legal_basis`` and ``citation`` from its jurisdiction's config where it lacks them."""
    jurisdiction = jurisdictions.get(record.get("jurisdiction"))
    if jurisdiction is None:
        return record, []
    filled = {name: getattr(jurisdiction, name) for name in ("legal_basis", "citation") if name not in record}
    return {**record, **filled}, list(filled)


@click.command("export")
@click.argument("request_id")
@click.option(
    "--ledger",
    "ledger_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path, allow_dash=False),
    help="Ledger records as JSON lines (as `modwatch tail ledger` prints them, or the raw records).",
)
@click.option(
    "--format",
    "output_format",
    required=True,
    type=click.Choice(["dsa", "lumen"]),
    help="dsa: a pre-filled DSA statement of reasons for the platform; lumen: a Lumen notice body.",
)
@config_option("platform names and jurisdictions")
@click.option(
    "--sender-name",
    envvar="MODWATCH_AUTHORITY_NAME",
    default=None,
    help="The authority sending the requests: the Lumen sender (required for --format lumen).",
)
@click.option(
    "--sender-country",
    envvar="MODWATCH_AUTHORITY_COUNTRY",
    default=None,
    help="The authority's two-letter country code, for the Lumen sender.",
)
@click.option(
    "--territorial-scope",
    default=None,
    help="Comma-separated EU/EEA country codes: the DSA territorial_scope instead of the derived one.",
)
@output_option("Write the JSON here instead of standard output.")
def export(
    request_id: str,
    ledger_file: Path,
    output_format: str,
    config_dir: Path | None,
    sender_name: str | None,
    sender_country: str | None,
    territorial_scope: str | None,
    output: Path | None,
) -> None:
    """Export takedown request REQUEST_ID from the ledger as a DSA statement of reasons or a Lumen notice.

    The DSA document is a draft for the platform, which is the one that submits
    statements of reasons; it is checked against the DSA field lists before it
    is written, and so is the Lumen notice.
    """
    from streams.cli._topics import read_ledger_file
    from streams.settings import default_config_dir

    if output_format == "lumen" and not (sender_name or "").strip():
        raise click.BadParameter(
            "is required for --format lumen (or set MODWATCH_AUTHORITY_NAME)", param_hint="'--sender-name'"
        )
    config_dir = config_dir or default_config_dir()
    jurisdictions, platforms = _load_config(config_dir)
    record, reviewed = ledger_request(read_ledger_file(ledger_file), request_id)
    if record is None:
        raise click.ClickException(f"{ledger_file}: no ledger record for request {request_id!r}")
    record, filled = fill_legal_basis(record, jurisdictions)
    if filled:
        click.echo(
            f"{request_id}: {' and '.join(filled)} taken from {config_dir / 'jurisdictions.yaml'} "
            f"({record['jurisdiction']}), as configured now",
            err=True,
        )
    platform = platforms.get(record.get("platform"))
    platform_name = platform.display_name if platform else str(record.get("platform"))
    now = datetime.now(UTC)
    try:
        if output_format == "dsa":
            document, found = _dsa(record, platform_name, now, reviewed, territorial_scope)
        else:
            document, found = _lumen(record, platform_name, now, sender_name, sender_country)
    except exports.ExportError as error:
        raise click.ClickException(str(error)) from None
    if found:
        schema = exports.DSA_SCHEMA if output_format == "dsa" else exports.LUMEN_SCHEMA
        raise click.ClickException(f"{request_id}: the export does not fit the {schema}:\n  " + "\n  ".join(found))
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _load_config(config_dir: Path) -> tuple[dict, dict]:
    """jurisdictions.yaml and platforms.yaml, every problem of both reported at once."""
    from detectors.configfile import Problems
    from detectors.pipeline import load_jurisdictions, load_platforms

    problems = Problems()
    jurisdictions, default = load_jurisdictions(config_dir / "jurisdictions.yaml", problems)
    platforms = load_platforms(config_dir / "platforms.yaml", problems, set(jurisdictions), default)
    problems.raise_if_any()
    return jurisdictions, platforms


def _dsa(record: dict, platform_name: str, now: datetime, reviewed: bool, territorial_scope: str | None):
    """The statement of reasons and what the DSA field lists find wrong with it."""
    scope = (
        [code.strip().upper() for code in territorial_scope.split(",") if code.strip()] if territorial_scope else None
    )
    document = exports.statement_of_reasons(
        record, platform_name=platform_name, now=now, reviewed=reviewed, territorial_scope=scope
    )
    return document, exports.validate_dsa(document)


def _lumen(record: dict, platform_name: str, now: datetime, sender_name: str, sender_country: str | None):
    """The Lumen notice from the authority ``sender_name`` and what Lumen's schema finds wrong with it."""
    sender = {"name": sender_name.strip(), "kind": "organization"}
    if sender_country:
        sender["country_code"] = sender_country.strip().upper()
    recipient = {"name": platform_name, "kind": "organization"}
    document = exports.lumen_notice(record, sender=sender, now=now, recipient=recipient)
    return document, exports.validate_lumen(document, now=now)
