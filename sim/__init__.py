"""The platform simulator: synthetic traffic in, simulated platforms answering takedown requests.

``sim.traffic`` makes posts and reports for modwatch's input topics, with a
ground truth of what is violating; ``sim.platforms`` runs one small web app
per platform that verifies modwatch's signed takedown webhooks, removes the
content after a latency drawn from ``sim/config.yaml`` and reports it back.

Typical use (what ``modwatch simulate`` does)::

    config = sim.load_config()                      # sim/config.yaml + config/ (validated together)
    secrets = sim.generate_secrets(config.platforms.platforms)
    handles = await sim.start_platforms(config.platforms, "http://127.0.0.1:6066/status", secrets)
    traffic = sim.Traffic(config.traffic, base_urls=handles.base_urls)
    await traffic.play(send, posts=3000)            # send(topic_short_name, key, value)
    ...
    handles.ground_truth(); traffic.ground_truth
    await handles.stop()

Nothing here imports faust or aiokafka: the caller owns the producer.

Time. The platforms compress waiting by ``clock.time_scale``, never
timestamps: a removal drawn at L platform seconds is reported with
``observed_at = arrival + L`` after ``L / time_scale`` wall seconds, so
modwatch's ``observed_at - requested_at`` is L. A request still open after W
wall seconds has been up ``W * time_scale`` platform seconds: a Kaplan-Meier
report over a compressed run must censor open requests there, not at W
(tests/test_simulator.py shows the median going wrong otherwise).
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from detectors.configfile import Problems, load_yaml
from detectors.designation_lists import load_designations
from detectors.watchlist import load_watchlist
from sim._behaviour import LatencyModel, PlatformBehaviour, PlatformsConfig, load_platforms_config
from sim._ground_truth import GroundTruth, PostTruth
from sim._median_check import MedianCheck, median_agrees
from sim._traffic_config import TrafficConfig, load_traffic_config
from sim.platforms import RequestRecord, SimulatedPlatforms, check_signature, signed_headers, start_platforms
from sim.traffic import Traffic
from takedowns.signing import sign

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.yaml"
REPOSITORY_CONFIG = Path(__file__).resolve().parent.parent / "config"

__all__ = [
    "DEFAULT_CONFIG",
    "GroundTruth",
    "LatencyModel",
    "MedianCheck",
    "PlatformBehaviour",
    "PlatformsConfig",
    "PostTruth",
    "RequestRecord",
    "SimConfig",
    "SimulatedPlatforms",
    "Traffic",
    "TrafficConfig",
    "check_signature",
    "generate_secrets",
    "load_config",
    "median_agrees",
    "sign",
    "signed_headers",
    "start_platforms",
]


@dataclass(frozen=True, slots=True)
class SimConfig:
    traffic: TrafficConfig
    platforms: PlatformsConfig


def load_config(path: Path = DEFAULT_CONFIG, config_dir: Path = REPOSITORY_CONFIG) -> SimConfig:
    """sim/config.yaml, with the platforms, designations and watchlists of ``config_dir``.

    Every problem in every file is collected and raised at once as a
    :class:`~detectors.configfile.ConfigError` (file:line: field: message).
    """
    path, config_dir = Path(path), Path(config_dir)
    problems = Problems()
    platforms_document = load_yaml(config_dir / "platforms.yaml", problems)
    listed = list(platforms_document.mapping(("platforms",), required=True))
    known = frozenset(listed)
    organisations = load_designations(config_dir / "designations.yaml", problems)
    watchlist_path = config_dir / "watchlists.yaml"
    watchlist = load_watchlist(watchlist_path, problems, known) if watchlist_path.exists() else ()
    document = load_yaml(path, problems)
    seed = int(document.number(("traffic", "seed"), default=20261129, minimum=0))
    platforms = load_platforms_config(document, known, seed=seed)
    unsimulated = sorted(known - set(platforms.platforms))
    if unsimulated and document.readable:
        document.problem(
            ("platforms",), f"has no behaviour for {', '.join(unsimulated)} (config/platforms.yaml lists them)"
        )
    traffic = load_traffic_config(
        document, [name for name in listed if name in platforms.platforms], organisations, watchlist
    )
    problems.raise_if_any()
    return SimConfig(traffic, platforms)


def generate_secrets(platforms: Iterable[str]) -> dict[str, str]:
    """A fresh random webhook secret per platform (32 bytes, hex)."""
    return {platform: _secrets.token_hex(32) for platform in platforms}
