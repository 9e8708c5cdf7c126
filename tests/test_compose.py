"""docker-compose.yml and the monitoring files under deploy/ stay consistent with the repository.

No Docker is needed: the files are parsed and compared with deploy/kafka/local.sh,
deploy/kafka/pom.xml, config/modwatch.yaml and the metrics the worker declares
(streams/metrics.py, and Faust's sensors under the prefix streams/web.py gives them).
Prometheus' and Alertmanager's own checkers run too, and are required: install
Debian's ``prometheus`` (promtool) and ``prometheus-alertmanager`` (amtool) packages.
tests/test_prometheus_integration.py runs the same rules and dashboard queries
against a real Prometheus and a live worker.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
LOCAL_SH = ROOT / "deploy" / "kafka" / "local.sh"
POM = ROOT / "deploy" / "kafka" / "pom.xml"
CONFIG = ROOT / "config" / "modwatch.yaml"
WEB = ROOT / "streams" / "web.py"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_LOCAL = PROMETHEUS_DIR / "prometheus.yml"
PROMETHEUS_COMPOSE = PROMETHEUS_DIR / "prometheus.compose.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = PROMETHEUS_DIR / "tests" / "modwatch_test.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
GRAFANA = ROOT / "deploy" / "grafana"

SERVICES = {"kafka", "worker", "prometheus", "alertmanager", "grafana"}

# The alert list: worker down or not scraped, broker cut off, stalled input,
# dead letters, lag, delivery, a platform over its SLA, overdue requests.
ALERTS = {
    "ModwatchWorkerDown",
    "ModwatchWorkerNotScraped",
    "ModwatchBrokerUnreachable",
    "ModwatchWritesRefused",
    "ModwatchNoInput",
    "ModwatchDeadLetterRateHigh",
    "ModwatchConsumerLagGrowing",
    "ModwatchDeliveryFailing",
    "ModwatchPlatformOverSLA",
    "ModwatchRequestsOverdue",
}

# Where alertmanager.yml sends each (team, severity) of the alert rules.
RECEIVERS = {
    ("operations", "critical"): "pager",
    ("operations", "warning"): "ticket",
    ("compliance", "critical"): "compliance-pager",
    ("compliance", "warning"): "compliance",
}

# Grafana's own variables, with the values a dashboard on a 15 s scrape would get.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def web_port() -> int:
    return int(load_yaml(CONFIG)["web_port"])


# --- parsing compose's short and long forms ------------------------------------------


def mounts(service: dict) -> list[dict]:
    """Every volume of a service as {type, source, target, read_only}."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) == 1:  # anonymous volume: container path only
                result.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
                continue
            source, target = parts[0], parts[1]
            options = parts[2].split(",") if len(parts) > 2 else []
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            result.append({"type": kind, "source": source, "target": target, "read_only": "ro" in options})
        else:
            result.append(
                {
                    "type": volume.get("type", "volume"),
                    "source": volume.get("source"),
                    "target": volume["target"],
                    "read_only": bool(volume.get("read_only", False)),
                }
            )
    return result


def bind_mounts(service: dict) -> list[dict]:
    return [mount for mount in mounts(service) if mount["type"] == "bind"]


def host_path(source: str) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else (ROOT / path).resolve()


def published_ports(service: dict) -> list[tuple[int, int]]:
    """(host port, container port) of every published port."""
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            result.append((int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: Docker picks a random host port
        result.append((int(parts[-2]), int(parts[-1])))
    return result


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def mount_for(service: dict, target: str) -> dict:
    for mount in mounts(service):
        if mount["target"].rstrip("/") == target.rstrip("/"):
            return mount
    raise AssertionError(f"nothing is mounted at {target}; mounts: {mounts(service)}")


def local_sh_kafka_version() -> str:
    match = re.search(r"^KAFKA_VERSION=([^\s#]+)", LOCAL_SH.read_text(), re.MULTILINE)
    assert match, f"{LOCAL_SH} has no KAFKA_VERSION= line"
    return match.group(1).strip("\"'")


def local_sh_default_port() -> int:
    match = re.search(r'port="\$\{MODWATCH_KAFKA_PORT:-(\d+)\}"', LOCAL_SH.read_text())
    assert match, f'{LOCAL_SH} has no port="${{MODWATCH_KAFKA_PORT:-...}}" default'
    return int(match.group(1))


def pom_kafka_version() -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = ET.parse(POM).getroot().find("m:properties/m:kafka.version", namespace)
    assert element is not None and element.text, f"{POM} has no <kafka.version>"
    return element.text.strip()


def scrape_targets(config: dict, job: str) -> list[str]:
    for scrape in config["scrape_configs"]:
        if scrape["job_name"] == job:
            return [target for static in scrape.get("static_configs", []) for target in static["targets"]]
    raise AssertionError(f"no scrape job {job!r}")


def alertmanager_targets(config: dict) -> list[str]:
    return [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager.get("static_configs", [])
        for target in static["targets"]
    ]


# --- what the worker exports, and what the rules and dashboards ask for ------------------


def faust_metric_prefix() -> str:
    match = re.search(r'setup_prometheus_sensors\([^)]*name_prefix="(\w+)"', WEB.read_text())
    assert match, f"{WEB} does not call setup_prometheus_sensors(..., name_prefix=...)"
    return match.group(1)


def series_names(registry: CollectorRegistry, *, created: bool = True) -> set[str]:
    """The series a registry's metrics expose, labelled or not, used or not."""
    suffixes = {
        "counter": ["_total"] + (["_created"] if created else []),
        "histogram": ["_bucket", "_count", "_sum"] + (["_created"] if created else []),
        "summary": ["_count", "_sum"] + (["_created"] if created else []),
        "info": ["_info"],
    }
    return {family.name + suffix for family in registry.collect() for suffix in suffixes.get(family.type, [""])}


def exported_metric_names() -> set[str]:
    """Series names the worker's /metrics can expose: streams/metrics.py and Faust's sensors."""
    from faust.sensors.prometheus import FaustMetrics

    from streams.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    FaustMetrics.create(registry, faust_metric_prefix())
    names = series_names(registry)
    assert any(name.startswith("modwatch_") for name in names)
    return names


def rules() -> list[dict]:
    return [rule for path in RULE_FILES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def recording_rules() -> list[dict]:
    return [rule for rule in rules() if "record" in rule]


def rule_tests() -> list[dict]:
    return load_yaml(RULE_TESTS)["tests"]


def dashboard_files() -> list[Path]:
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert files, "no dashboards under deploy/grafana/dashboards"
    return files


def panels(dashboard: dict):
    """Every panel, rows included, and the panels inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(path: Path) -> list[str]:
    """Panel queries as written, variables and all."""
    return [target["expr"] for panel in panels(json.loads(path.read_text())) for target in panel.get("targets", [])]


def substitute(expr: str, variables: dict[str, str], where: str) -> str:
    """Grafana's $name, ${name}, ${name:format} and [[name]] replaced by their values."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in variables:
            return variables[name]
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        raise AssertionError(f"{where}: unknown variable ${name} in {expr!r}")

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", value, expr)


def dashboard_queries(paths: list[Path] | None = None) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and template variable, ready to run:
    each variable set to its "All" regex (allValue), Grafana's own ones to GRAFANA_BUILTINS,
    and ``label_values(metric, label)`` asked as ``count by (label) (metric)``."""
    queries = []
    for path in paths or dashboard_files():
        dashboard = json.loads(path.read_text())
        variables = {}
        for variable in dashboard.get("templating", {}).get("list", []):
            where = f"{path.name}: variable ${variable['name']}"
            assert variable.get("includeAll") and variable.get("allValue"), (
                f"{where}: give it an All option with an allValue regex"
            )
            variables[variable["name"]] = variable["allValue"]
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", query)
            assert match, f"{where}: {query!r} is not label_values(metric, label)"
            queries.append((where, f"count by ({match.group(2)}) ({match.group(1)})"))
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                where = f"{path.name}: {panel['title']!r} {target['refId']}"
                queries.append((where, substitute(target["expr"], variables, where)))
    assert queries, "no dashboard queries found"
    return queries


def matches(matchers: list[str], labels: dict[str, str]) -> bool:
    """Alertmanager's `label = "v"`, `!=`, `=~` and `!~` matchers (regexes anchored)."""
    for matcher in matchers:
        name, operator, value = re.fullmatch(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*', matcher).groups()
        actual = labels.get(name, "")
        found = re.fullmatch(value, actual) is not None if "~" in operator else actual == value
        if found == operator.startswith("!"):
            return False
    return True


# --- docker-compose.yml ----------------------------------------------------------------


def test_compose_has_the_services(services):
    assert SERVICES <= set(services), f"missing services: {SERVICES - set(services)}"


def test_every_mounted_host_path_exists(services):
    missing = [
        f"{name}: {mount['source']} -> {mount['target']}"
        for name, service in services.items()
        for mount in bind_mounts(service)
        if not host_path(mount["source"]).exists()
    ]
    assert not missing, "bind-mounted paths missing from the repository:\n" + "\n".join(missing)


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    used = {
        mount["source"]
        for service in services.values()
        for mount in mounts(service)
        if mount["type"] == "volume" and mount["source"]
    }
    assert used <= declared, f"volumes used but not declared at the top level: {used - declared}"


def test_build_context_has_the_dockerfile(services):
    build = services["worker"]["build"]
    context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (context / dockerfile).is_file()


def test_images_are_pinned(services):
    for name, service in services.items():
        if "image" not in service or "build" in service:
            continue
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: image {image!r} must be pinned to a version"


def test_kafka_image_matches_local_sh_and_pom(services):
    image = services["kafka"]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository == "apache/kafka"
    assert tag == local_sh_kafka_version() == pom_kafka_version(), (
        f"docker-compose.yml has {image}, local.sh KAFKA_VERSION={local_sh_kafka_version()}, "
        f"pom.xml kafka.version={pom_kafka_version()}: keep them in step"
    )


def test_kafka_host_port_matches_local_sh(services):
    port = local_sh_default_port()
    ports = published_ports(services["kafka"])
    assert [host for host, _ in ports] == [port], f"kafka must publish only host port {port}: {ports}"
    advertised = environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert f"127.0.0.1:{port}" in advertised or f"localhost:{port}" in advertised, advertised


def test_worker_uses_kafkas_internal_listener(services):
    kafka_env = environment(services["kafka"])
    broker = environment(services["worker"])["MODWATCH_BROKER"]
    assert broker.startswith("kafka://")
    address = broker.removeprefix("kafka://")
    host, _, port = address.partition(":")
    assert host == "kafka", broker
    assert address in kafka_env["KAFKA_ADVERTISED_LISTENERS"], (broker, kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    assert f":{port}" in kafka_env["KAFKA_LISTENERS"], kafka_env["KAFKA_LISTENERS"]
    # The client port published to the host is another listener.
    assert int(port) not in [container for _, container in published_ports(services["kafka"])]


def test_worker_port_matches_web_port(services, web_port):
    ports = published_ports(services["worker"])
    assert (web_port, web_port) in ports, f"worker must publish {web_port}:{web_port} (web_port): {ports}"
    assert "MODWATCH_WEB_PORT" not in environment(services["worker"]) or (
        int(environment(services["worker"])["MODWATCH_WEB_PORT"]) == web_port
    )


def test_worker_reads_the_mounted_config(services):
    worker = services["worker"]
    config_dir = environment(worker)["MODWATCH_CONFIG_DIR"]
    mount = mount_for(worker, config_dir)
    assert host_path(mount["source"]) == ROOT / "config"
    assert mount["read_only"], "config is mounted read-only"


def test_worker_environment_names_real_settings(services):
    """Each MODWATCH_* variable the worker gets is a setting the worker reads."""
    from streams.settings import Settings

    fields = {field.name for field in dataclasses.fields(Settings)}
    env = environment(services["worker"])
    unknown = [
        name
        for name in env
        if name.startswith("MODWATCH_")
        and name not in {"MODWATCH_CONFIG_DIR", "MODWATCH_API_TOKEN"}
        and name.removeprefix("MODWATCH_").lower() not in fields
    ]
    assert not unknown, f"streams/settings.py has no setting for {unknown}"
    assert env.get("MODWATCH_WEB_HOST") == "0.0.0.0", "in a container the worker must listen on 0.0.0.0"


ENV_EXAMPLE = ROOT / "deploy" / "modwatch.env.example"


def env_example_names() -> set[str]:
    """Variables deploy/modwatch.env.example sets or shows (commented out), by name."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def test_the_worker_gets_its_token_and_secrets_from_the_operators_env_file(services):
    """On 0.0.0.0 the worker refuses to start without a token: compose demands the env file and holds no secret."""
    from streams import access

    worker = services["worker"]
    assert worker.get("env_file") == [{"path": "./modwatch.env", "required": True}]
    secrets = [name for name in environment(worker) if re.search(r"TOKEN|SECRET|PASSWORD", name)]
    assert not secrets, f"secrets belong in modwatch.env, not in docker-compose.yml: {secrets}"
    assert access.exposure_problem("0.0.0.0", {}) is not None
    assert re.search(r"^MODWATCH_API_TOKEN=$", ENV_EXAMPLE.read_text(), re.MULTILINE), "the example asks for the token"
    ignored = subprocess.run(["git", "check-ignore", "-q", "modwatch.env"], cwd=ROOT)
    assert ignored.returncode == 0, ".gitignore must keep the filled-in modwatch.env out of git"


def test_the_env_example_names_every_secret_the_config_and_kafka_settings_read():
    named = set(
        re.findall(r"(?:secret|password)_env:\s*([A-Z][A-Z0-9_]*)", (ROOT / "config" / "platforms.yaml").read_text())
    )
    kafka = set(re.findall(r"\b(MODWATCH_KAFKA_[A-Z_]+)\b", (ROOT / "streams" / "kafka_auth.py").read_text()))
    assert named and kafka
    assert named | kafka | {"MODWATCH_API_TOKEN"} <= env_example_names(), (
        f"{ENV_EXAMPLE.relative_to(ROOT)} lacks {sorted((named | kafka) - env_example_names())}"
    )


def test_the_worker_keeps_its_data_dir_in_a_named_volume(services):
    worker = services["worker"]
    mount = mount_for(worker, environment(worker)["MODWATCH_DATA_DIR"])
    assert mount["type"] == "volume" and mount["source"] and not mount["read_only"], mount


def test_every_service_has_a_healthcheck_and_the_worker_s_asks_readyz(services, web_port):
    missing = [name for name, service in services.items() if not service.get("healthcheck", {}).get("test")]
    assert not missing, f"services without a healthcheck: {missing}"
    probe = " ".join(services["worker"]["healthcheck"]["test"])
    assert f"127.0.0.1:{web_port}/readyz" in probe, probe
    for name, port, path in (("prometheus", 9090, "/-/ready"), ("alertmanager", 9093, "/-/ready")):
        assert f"127.0.0.1:{port}{path}" in " ".join(services[name]["healthcheck"]["test"]), name


@pytest.mark.tools
def test_compose_runs_the_prometheus_and_alertmanager_versions_the_tests_check_with(services):
    """promtool and amtool of these versions check deploy/ (test_promtool, test_amtool): compose runs the same."""
    checked = {
        "prom/prometheus": re.search(r"version (\d+\.\d+\.\d+)", run(require("promtool", "prometheus"), "--version")),
        "prom/alertmanager": re.search(
            r"version (\d+\.\d+\.\d+)", run(require("amtool", "prometheus-alertmanager"), "--version")
        ),
    }
    for name, service in services.items():
        repository, _, tag = service.get("image", "").rpartition(":")
        if repository in checked:
            assert tag == f"v{checked[repository].group(1)}", f"{name}: {service['image']}, checked with {checked}"


def test_worker_listens_where_compose_says():
    from streams.settings import Settings

    settings = Settings.load(ROOT / "config", environ={"MODWATCH_WEB_HOST": "0.0.0.0"})
    assert settings.web_host == "0.0.0.0"


# --- Prometheus ----------------------------------------------------------------------


def test_compose_prometheus_mounts_the_compose_variant(services):
    prometheus = services["prometheus"]
    config = mount_for(prometheus, "/etc/prometheus/prometheus.yml")
    assert host_path(config["source"]) == PROMETHEUS_COMPOSE
    rules = mount_for(prometheus, "/etc/prometheus/rules")
    assert host_path(rules["source"]) == PROMETHEUS_DIR / "rules"


def test_compose_prometheus_scrapes_the_worker(services, web_port):
    config = load_yaml(PROMETHEUS_COMPOSE)
    assert scrape_targets(config, "modwatch") == [f"worker:{web_port}"]
    assert "worker" in services
    host, _, port = alertmanager_targets(config)[0].partition(":")
    assert host in services and port == "9093"


def test_local_prometheus_scrapes_loopback(web_port):
    config = load_yaml(PROMETHEUS_LOCAL)
    assert scrape_targets(config, "modwatch") == [f"127.0.0.1:{web_port}"]
    assert alertmanager_targets(config) == ["127.0.0.1:9093"]


def test_both_prometheus_configs_agree_apart_from_addresses():
    local, composed = load_yaml(PROMETHEUS_LOCAL), load_yaml(PROMETHEUS_COMPOSE)
    assert local["rule_files"] == composed["rule_files"]
    assert local["global"] == composed["global"]
    assert [job["job_name"] for job in local["scrape_configs"]] == [
        job["job_name"] for job in composed["scrape_configs"]
    ]


@pytest.mark.parametrize("config_path", [PROMETHEUS_LOCAL, PROMETHEUS_COMPOSE], ids=lambda path: path.name)
def test_rule_files_exist_and_are_valid_yaml(config_path):
    patterns = load_yaml(config_path)["rule_files"]
    assert patterns
    loaded = set()
    for pattern in patterns:
        files = glob.glob(str(config_path.parent / pattern))
        assert files, f"{config_path.name}: rule_files {pattern!r} matches nothing"
        for file in files:
            document = load_yaml(Path(file))
            assert isinstance(document, dict) and document.get("groups"), f"{file}: no rule groups"
            loaded.add(Path(file).resolve())
    assert loaded == set(RULE_FILES), f"{config_path.name} does not load every file in rules/"


def test_alert_rules_have_severity_team_and_annotations():
    alerts = alert_rules()
    assert {rule["alert"] for rule in alerts} == ALERTS
    for rule in alerts:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert (rule["labels"]["team"], rule["labels"]["severity"]) in RECEIVERS, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert len(rule["annotations"]["runbook"]) > 100, f"{rule['alert']}: the runbook should say what to do"


def test_recording_rules_follow_the_naming_convention_and_keep_job():
    records = recording_rules()
    assert {
        "job_platform:modwatch_time_to_removal_seconds:p50_rate1d",
        "job_platform:modwatch_time_to_removal_seconds:p90_rate1d",
        "job_platform:modwatch_removals_within_deadline:ratio_1d",
        "job_detector_platform:modwatch_findings:rate5m",
    } <= {rule["record"] for rule in records}
    for rule in records:
        level, metric, operations = rule["record"].split(":")
        assert metric.startswith("modwatch_") and operations, rule["record"]
        kept = set(level.split("_"))
        for group in re.findall(r"\bby \(([^)]*)\)", rule["expr"]):
            assert {label.strip() for label in group.split(",")} - {"le"} == kept, f"{rule['record']}: by ({group})"


def test_lag_alert_and_lag_recording_rule_select_the_same_topics():
    (record,) = [rule for rule in recording_rules() if rule["record"] == "job_topic:modwatch_consumer_lag_messages:sum"]
    (alert,) = [rule for rule in alert_rules() if rule["alert"] == "ModwatchConsumerLagGrowing"]
    selector = re.search(r"modwatch_consumer_lag_messages\{[^}]*\}", record["expr"]).group(0)
    assert "topic=~" in selector and selector in alert["expr"], (selector, alert["expr"])


def test_rules_and_dashboards_use_only_exported_metrics():
    exported = exported_metric_names()
    recorded = {rule["record"] for rule in recording_rules()}
    used = {rule.get("alert") or rule["record"]: rule["expr"] for rule in rules()}
    used.update({where: expr for where, expr in dashboard_queries()})
    unknown = {
        where: sorted(name for name in set(re.findall(r"\b(?:\w+:)?modwatch_\w+(?::\w+)?", expr)) - exported - recorded)
        for where, expr in used.items()
    }
    unknown = {where: names for where, names in unknown.items() if names}
    assert not unknown, f"metrics neither exported by the worker nor recorded: {unknown}"


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    cases = [case for test in rule_tests() for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    for rule in alert_rules():
        assert rule["alert"] in firing and rule["alert"] in silent, (
            f"{rule['alert']} needs a firing and a not-firing case"
        )


def test_every_firing_severity_is_tested():
    fired = {
        (case["alertname"], alert["exp_labels"]["severity"])
        for test in rule_tests()
        for case in test.get("alert_rule_test", [])
        for alert in case.get("exp_alerts") or []
    }
    for rule in alert_rules():
        assert (rule["alert"], rule["labels"]["severity"]) in fired, (
            f"{rule['alert']} ({rule['labels']['severity']}) never fires in a test"
        )


def test_every_recording_rule_has_a_unit_test():
    tested = " ".join(case["expr"] for test in rule_tests() for case in test.get("promql_expr_test", []))
    for rule in recording_rules():
        assert re.search(rf"\b{re.escape(rule['record'])}\b", tested), f"{rule['record']} has no promql_expr_test"


def test_rule_tests_load_every_rule_file():
    loaded = {(RULE_TESTS.parent / path).resolve() for path in load_yaml(RULE_TESTS)["rule_files"]}
    assert loaded == set(RULE_FILES)


def test_every_alert_keeps_the_job_label():
    """Alertmanager's worker-down inhibition compares `job`: an alert without it is never inhibited."""
    for test in rule_tests():
        for case in test.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                assert alert["exp_labels"].get("job") == "modwatch", f"{test['name']}: {case['alertname']} drops job"


# --- Alertmanager and Grafana -----------------------------------------------------------


def test_alertmanager_receivers_page_and_mail():
    config = load_yaml(ALERTMANAGER)
    route = config["route"]
    assert {"alertname", "platform"} <= set(route["group_by"]), "each platform's alerts are notified apart"
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert set(RECEIVERS.values()) <= set(receivers)
    for name, receiver in receivers.items():
        assert receiver.get("webhook_configs") and receiver.get("email_configs"), (
            f"{name}: needs a webhook and an email"
        )
    assert [hook["url"] for hook in receivers["pager"]["webhook_configs"]] == ["http://127.0.0.1:5001/page"]
    assert config["global"]["smtp_smarthost"] and config["global"]["smtp_from"]


def test_worker_down_inhibits_its_downstream_alerts():
    config = load_yaml(ALERTMANAGER)
    inhibited_by = {
        alert: {
            source
            for rule in config["inhibit_rules"]
            for source in ALERTS
            if matches(rule["target_matchers"], {"alertname": alert})
            and matches(rule["source_matchers"], {"alertname": source})
        }
        for alert in ALERTS
    }
    downstream = {
        "ModwatchNoInput",
        "ModwatchDeadLetterRateHigh",
        "ModwatchConsumerLagGrowing",
        "ModwatchDeliveryFailing",
        "ModwatchRequestsOverdue",
    }
    for alert in downstream:
        causes = {
            "ModwatchWorkerDown",
            "ModwatchWorkerNotScraped",
            "ModwatchBrokerUnreachable",
            "ModwatchWritesRefused",
        }
        assert causes <= inhibited_by[alert], alert
    assert not inhibited_by["ModwatchPlatformOverSLA"], "a worker outage does not change removals already counted"
    for rule in config["inhibit_rules"]:
        if any("alertname" in matcher for matcher in rule["source_matchers"]):
            assert rule["equal"] == ["job"], rule


def test_a_critical_alert_inhibits_its_own_warning():
    config = load_yaml(ALERTMANAGER)
    (rule,) = [
        rule
        for rule in config["inhibit_rules"]
        if matches(rule["source_matchers"], {"severity": "critical"})
        and matches(rule["target_matchers"], {"severity": "warning"})
    ]
    assert {"alertname", "platform"} <= set(rule["equal"])
    both = {rule["alert"] for rule in alert_rules() if rule["labels"]["severity"] == "critical"} & {
        rule["alert"] for rule in alert_rules() if rule["labels"]["severity"] == "warning"
    }
    assert both == {"ModwatchPlatformOverSLA"}


def test_grafana_provisioning(services):
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    prometheus = next(source for source in datasources if source["type"] == "prometheus")
    assert prometheus["uid"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090" and "prometheus" in services
    assert prometheus["jsonData"]["timeInterval"] == load_yaml(PROMETHEUS_COMPOSE)["global"]["scrape_interval"]
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "modwatch.yml")["providers"]
    path = providers[0]["options"]["path"]
    mount = mount_for(services["grafana"], path)
    assert host_path(mount["source"]) == GRAFANA / "dashboards"
    mount = mount_for(services["grafana"], "/etc/grafana/provisioning")
    assert host_path(mount["source"]) == GRAFANA / "provisioning"
    home = environment(services["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (GRAFANA / "dashboards" / Path(home).relative_to(path)).is_file()
    uids = []
    for dashboard_path in dashboard_files():
        dashboard = json.loads(dashboard_path.read_text())
        assert dashboard["schemaVersion"] >= 39
        assert dashboard["uid"] and dashboard["title"]
        uids.append(dashboard["uid"])
        assert dashboard["panels"]
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{dashboard_path.name}: panel ids repeat"
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == prometheus["uid"], panel["title"]
            assert panel["targets"] and panel.get("description"), panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == prometheus["uid"], panel["title"]
        for variable in dashboard.get("templating", {}).get("list", []):
            assert variable["datasource"]["uid"] == prometheus["uid"], variable["name"]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)
def test_dashboard_panels_do_not_overlap(path):
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(json.loads(path.read_text())):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def compact(path: Path) -> str:
    return " ".join(re.sub(r"\s+", "", expr) for expr in dashboard_exprs(path))


def test_pipeline_dashboard_panels():
    exprs = compact(GRAFANA / "dashboards" / "pipeline-health.json")
    for needle in (
        "rate(modwatch_events_total[5m])",  # throughput
        "rate(modwatch_posts_processed_total[5m])",
        "rate(modwatch_faust_messages_received_per_topic_total[5m])",
        "rate(modwatch_deadletters_total[5m])",  # dead letters
        "rate(modwatch_takedown_requests_total[5m])",
        "histogram_quantile(0.99,sumby(le,detector)(rate(modwatch_detector_batch_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.99,sumby(le)(rate(modwatch_processing_latency_seconds_bucket[5m])))",  # latency
        "job_topic:modwatch_consumer_lag_messages:sum",  # lag
        "sumby(detector)(job_detector_platform:modwatch_findings:rate5m)",  # detections by detector
        "rate(modwatch_delivery_attempts_total[5m])",  # delivery outcomes
    ):
        assert needle in exprs, needle


def test_compliance_dashboard_panels():
    path = GRAFANA / "dashboards" / "platform-compliance.json"
    dashboard = json.loads(path.read_text())
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == [
        "platform",
        "category",
        "jurisdiction",
    ]
    exprs = compact(path)
    for needle in (
        "job_platform:modwatch_time_to_removal_seconds:p50_rate1d",  # percentiles over time
        "job_platform:modwatch_time_to_removal_seconds:p90_rate1d",
        "job_platform:modwatch_removals_within_deadline:ratio_1d",  # share within deadline
        "modwatch_takedown_requests_open",  # open and overdue
        "modwatch_takedown_requests_overdue",
        "sumby(le,category,jurisdiction)(rate(modwatch_time_to_removal_seconds_bucket",  # by category and jurisdiction
    ):
        assert needle in exprs, needle
    (heatmap,) = [panel for panel in panels(dashboard) if panel["type"] == "heatmap"]
    (target,) = heatmap["targets"]
    assert target["format"] == "heatmap" and "modwatch_time_to_removal_seconds_bucket" in target["expr"]


# --- promtool and amtool ----------------------------------------------------------------


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not on PATH: install Debian's `{package}` package "
            f"(apt-get update && apt-get install -y {package})",
            pytrace=False,
        )
    return path


def run(*command: str) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


@pytest.mark.tools
def test_promtool(tmp_path):
    promtool = require("promtool", "prometheus")
    run(promtool, "check", "config", str(PROMETHEUS_LOCAL.relative_to(ROOT)))
    run(promtool, "check", "config", str(PROMETHEUS_COMPOSE.relative_to(ROOT)))
    run(promtool, "check", "rules", *(str(path.relative_to(ROOT)) for path in RULE_FILES))
    output = run(promtool, "test", "rules", str(RULE_TESTS.relative_to(ROOT)))
    assert "SUCCESS" in output, output
    # The dashboards' queries parse, variables substituted: check them as recording rules.
    records = [
        {"record": f"dashboard:query_{index}", "expr": expr} for index, (_, expr) in enumerate(dashboard_queries())
    ]
    dashboard_rules = tmp_path / "dashboard-queries.yml"
    dashboard_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}))
    run(promtool, "check", "rules", str(dashboard_rules))


@pytest.mark.tools
def test_amtool():
    amtool = require("amtool", "prometheus-alertmanager")
    run(amtool, "check-config", str(ALERTMANAGER.relative_to(ROOT)))
    for rule in alert_rules():
        labels = {"alertname": rule["alert"], "job": "modwatch", "platform": "x", **rule["labels"]}
        output = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER.relative_to(ROOT)}",
            *(f"{name}={value}" for name, value in labels.items()),
        )
        expected = RECEIVERS[(rule["labels"]["team"], rule["labels"]["severity"])]
        assert output.split()[0] == expected, (labels, output)
    # An alert without a team still reaches someone: pages if critical, a ticket if not.
    for severity, receiver in (("critical", "pager"), ("warning", "ticket"), ("info", "ticket")):
        output = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER.relative_to(ROOT)}",
            "alertname=Unknown",
            f"severity={severity}",
        )
        assert output.split()[0] == receiver, (severity, output)
