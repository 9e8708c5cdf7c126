"""Web views on the worker's port: Prometheus metrics and liveness."""

from __future__ import annotations

from faust.sensors.prometheus import setup_prometheus_sensors

from streams.app import app

# /metrics: Faust's own sensor metrics and modwatch's (streams/metrics.py) from
# the default registry, on one endpoint.
setup_prometheus_sensors(app, pattern="/metrics", name_prefix="modwatch_faust")


@app.page("/healthz")
async def healthz(web, request):
    return web.json({"status": "ok"})
