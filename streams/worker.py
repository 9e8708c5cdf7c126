"""Run the Faust worker for modwatch's app, with its agents and web views."""

from __future__ import annotations

import logging

import faust

# How long the first contact with the broker may take before the worker gives up with one line.
BROKER_CHECK_SECONDS = 15.0


def _broker_source() -> str:
    import os

    if "MODWATCH_BROKER" in os.environ:
        return "environment MODWATCH_BROKER"
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "environment KAFKA_BOOTSTRAP_SERVERS"
    return "broker in modwatch.yaml"


def freeze_startup_objects() -> None:
    """Move everything start-up made (the hash bank, the models, the grammars) out of the
    collector's sight: they live as long as the worker, and every full collection would
    otherwise walk them again (millions of objects with a large bank). gc.freeze() after
    a collection, as its documentation advises, so no garbage is frozen with them."""
    import gc

    gc.collect()
    gc.freeze()
    release_free_memory()


def release_free_memory() -> None:
    """Hand the heap that start-up freed (reading a large bank's CSV peaks at twice what stays)
    back to the system, so the worker's resident memory is what it keeps. glibc only; a no-op elsewhere."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass


def run(loglevel: str | None = None) -> None:
    import os

    from detectors.configfile import ConfigError
    from streams import access
    from streams.app import settings

    # Before anything else: an exposed write API or an unreachable broker is one line and exit code 2.
    problem = access.exposure_problem(settings.web_host, os.environ)
    if problem is not None:
        raise ConfigError([problem])
    from streams import agents, runtime, web, web_lists  # noqa: F401 - registering agents and views
    from streams.console import views  # noqa: F401 - the review console's routes

    # Every config file, every problem at once, before anything starts.
    agents.prepare(runtime.install(runtime.Runtime.build(settings)))
    freeze_startup_objects()
    from streams.admin import ensure_topics_or_refuse
    from streams.app import app

    where = f"{settings.broker} ({_broker_source()})"
    created = ensure_topics_or_refuse(settings, where, BROKER_CHECK_SECONDS)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if created:
        logging.getLogger("modwatch.worker").warning("created topics: %s", ", ".join(created))
    from streams.logs import logging_config

    level = loglevel or settings.log_level
    worker = faust.Worker(app, loglevel=level, quiet=True, logging_config=logging_config(level, settings.log_format))
    worker.execute_from_commandline()
