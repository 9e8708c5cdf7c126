"""What the worker builds once from its config, shared by its agents and its web views.

The detection pipeline (every config file under ``config/``, loaded at
import so that every problem is reported at once, before the worker
starts), the delivery channels, and the broker probe's last answer that
``/readyz`` reads. Agents (streams/agents.py) and views (streams/web.py) both
take them from here and never from each other.
"""

from __future__ import annotations

from detectors.configfile import Problems
from detectors.events import InvalidEvent
from detectors.pipeline import Pipeline, item_key_of_request
from streams.app import settings

pipeline = Pipeline.from_config_dir(settings.config_dir)


def _load_delivery_channels() -> dict:
    from streams.delivery import load_delivery_config

    problems = Problems()
    # Relative outbox folders live under the worker's data_dir.
    channels = load_delivery_config(settings.config_dir / "platforms.yaml", problems, base_dir=settings.data_dir)
    problems.raise_if_any()
    return channels


DELIVERY_CHANNELS = _load_delivery_channels()

# The last broker probe's answer (streams/agents.py probe_broker, read by /readyz).
# A probe every second that gives up after 2 s: /readyz turns not-ready within
# about 3 s of the broker going away.
HEALTH = {"broker_ok": False, "probed_at": None, "broker_error": "not probed yet"}
BROKER_PROBE_SECONDS = 1.0
BROKER_PROBE_TIMEOUT_SECONDS = 2.0


def decision_item_key(decision) -> str:
    if decision.request_id is not None:
        try:
            return item_key_of_request(decision.request_id)
        except ValueError as error:
            raise InvalidEvent("invalid_value", "request_id", str(error)) from None
    prefix = "detection:"
    if not decision.alert_id.startswith(prefix) or ":" not in decision.alert_id[len(prefix) :]:
        raise InvalidEvent("invalid_value", "alert_id", f"{decision.alert_id[:80]!r} is not a detection alert id")
    return decision.alert_id[len(prefix) :]
