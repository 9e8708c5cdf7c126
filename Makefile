# modwatch: one entry point. `make demo` runs the monitor on a local broker
# against six simulated platforms for a few minutes (DEMO_MINUTES) and ends with
# the compliance report; `make test` runs the test suite. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint setup system-deps kafka-start kafka-stop bench chaos clean designations model dashboards

DEMO_MINUTES ?= 3

demo: setup
	$(BIN)/modwatch simulate --minutes $(DEMO_MINUTES)

# Three processes on the machine's two cores: most broker tests wait (on the broker, a worker,
# an outage or a drill), so a third keeps the cores busy. Each gets its own broker, and each
# test file runs whole on one of them.
# Lint first: a formatting slip fails in seconds, not after the suite. The 15 slowest tests are
# listed at the end, to keep CI's run (.ci/run) well inside its time.
test: setup system-deps lint
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --durations=15

# While working (under a minute): lint and the tests that need no broker, no Debian tools
# and no model training, in two processes (~35 s of tests here). `make test` runs everything.
check: setup lint
	$(BIN)/python -m pytest -q -n 2 -m "not kafka and not slow and not tools" -p no:cacheprovider --ignore=tests/test_fuzz.py

# ruff: the lint rules and the format in pyproject.toml ([tool.ruff]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Grafana dashboards' JSON, from deploy/grafana/dashboards.py (never edit the JSON by hand).
dashboards: setup
	$(BIN)/python deploy/grafana/dashboards.py

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "modwatch needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@command -v java >/dev/null && command -v mvn >/dev/null || $(MAKE) system-deps
	deploy/kafka/local.sh fetch
	touch $(STAMP)

# Debian packages the tests use: Java and Maven fetch and run Kafka; promtool and
# amtool check the Prometheus and Alertmanager files. Installed only when missing.
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Rebuild config/designations.yaml from the UN list in detectors/datasets/un_sc/.
designations: setup
	$(BIN)/modwatch designations build-un --out config/designations.yaml

# Retrain the shipped text classifier; the result is byte-identical to the committed file.
model: setup
	$(BIN)/modwatch train --out config/models/text-classifier.skops
	$(BIN)/modwatch evaluate --model config/models/text-classifier.skops

kafka-start:
	deploy/kafka/local.sh start

kafka-stop:
	deploy/kafka/local.sh stop

bench: setup
	$(BIN)/python -m bench.run

# Crash harness: kill -9 the worker CHAOS_KILLS times, a rebalance, a 30 s broker outage; lost and duplicated per output.
CHAOS_KILLS ?= 50
chaos: setup system-deps
	$(BIN)/python -m bench.chaos --kills $(CHAOS_KILLS) --outage 30

clean:
	deploy/kafka/local.sh stop || true
	rm -rf $(VENV) .modwatch-data deploy/kafka/.data-*
