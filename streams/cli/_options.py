"""Options several commands share, so each reads, defaults and explains them the same way."""

from __future__ import annotations

from pathlib import Path

import click


class InputRefused(click.ClickException):
    """An input file or an option that cannot be used: one line naming where, exit code 2
    (as for configuration), without the usage text a click usage error prints first."""

    exit_code = 2


def config_option(purpose: str = ""):
    """``--config``: the config folder; the command falls back to streams.settings.default_config_dir()."""
    return click.option(
        "--config",
        "config_dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help=f"Config folder{' for ' + purpose if purpose else ''} (default: ./config or MODWATCH_CONFIG_DIR).",
    )


def broker_option():
    """``--broker``: the bootstrap servers; streams/cli/_topics.py ``resolve`` falls back to the configured broker."""
    return click.option(
        "--broker",
        envvar="KAFKA_BOOTSTRAP_SERVERS",
        default=None,
        help="host:port[,host:port] (default: the configured broker).",
    )


def output_option(help: str):
    """``--output``/``-o``: a file to write instead of standard output."""
    return click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help)


def existing_file_option(*names: str, help: str, **options):
    """An option naming a file that must exist: click says which option and file when it does not."""
    return click.option(*names, type=click.Path(dir_okay=False, exists=True, path_type=Path), help=help, **options)
