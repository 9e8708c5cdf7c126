"""Run the Faust worker for modwatch's app, with its agents and web views."""

from __future__ import annotations

import asyncio
import logging

import faust


def run(loglevel: str | None = None) -> None:
    from streams import agents, web  # noqa: F401 - registering agents and views on the app
    from streams.app import app, settings

    from streams.admin import ensure_topics

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = asyncio.run(ensure_topics(settings))
    if created:
        logging.getLogger("modwatch.worker").warning("created topics: %s", ", ".join(created))
    from streams.logs import logging_config

    level = loglevel or settings.log_level
    worker = faust.Worker(app, loglevel=level, quiet=True, logging_config=logging_config(level, settings.log_format))
    worker.execute_from_commandline()
