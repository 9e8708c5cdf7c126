# The modwatch worker. Built by docker-compose.yml; config/ is mounted at /app/config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /app modwatch \
 && mkdir -p /var/lib/modwatch \
 && chown modwatch /var/lib/modwatch

USER modwatch
ENV MODWATCH_CONFIG_DIR=/app/config \
    MODWATCH_DATA_DIR=/var/lib/modwatch \
    MODWATCH_WEB_HOST=0.0.0.0
# On 0.0.0.0 the worker refuses to start without MODWATCH_API_TOKEN (pass it with -e; never bake it in).
EXPOSE 6066
CMD ["modwatch", "worker"]
