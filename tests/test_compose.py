"""docker-compose.yml and the monitoring files under deploy/ stay consistent with the repository.

No Docker is needed: the files are parsed and compared with deploy/kafka/local.sh,
deploy/kafka/pom.xml, config/modwatch.yaml and streams/metrics.py. Prometheus' and
Alertmanager's own checkers run too, and are required: install Debian's
``prometheus`` (promtool) and ``prometheus-alertmanager`` (amtool) packages.
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

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
LOCAL_SH = ROOT / "deploy" / "kafka" / "local.sh"
POM = ROOT / "deploy" / "kafka" / "pom.xml"
CONFIG = ROOT / "config" / "modwatch.yaml"
METRICS = ROOT / "streams" / "metrics.py"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_LOCAL = PROMETHEUS_DIR / "prometheus.yml"
PROMETHEUS_COMPOSE = PROMETHEUS_DIR / "prometheus.compose.yml"
RULES = PROMETHEUS_DIR / "rules" / "modwatch.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "modwatch_test.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
GRAFANA = ROOT / "deploy" / "grafana"

SERVICES = {"kafka", "worker", "prometheus", "alertmanager", "grafana"}


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
            result.append({
                "type": volume.get("type", "volume"),
                "source": volume.get("source"),
                "target": volume["target"],
                "read_only": bool(volume.get("read_only", False)),
            })
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
    assert match, f"{LOCAL_SH} has no port=\"${{MODWATCH_KAFKA_PORT:-...}}\" default"
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


def exported_metric_names() -> set[str]:
    """Series names that streams/metrics.py exports (histograms add their suffixes)."""
    names = set()
    for kind, name in re.findall(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"(\w+)\"", METRICS.read_text()):
        names.add(name)
        if kind == "Counter":
            names.add(name.removesuffix("_total") + "_created")
        if kind in {"Histogram", "Summary"}:
            names.update({f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"})
    assert names, f"no metrics found in {METRICS}"
    return names


def alert_rules() -> list[dict]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def dashboard_files() -> list[Path]:
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert files, "no dashboards under deploy/grafana/dashboards"
    return files


def dashboard_exprs(path: Path) -> list[str]:
    dashboard = json.loads(path.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


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
        name for name in env
        if name.startswith("MODWATCH_") and name != "MODWATCH_CONFIG_DIR"
        and name.removeprefix("MODWATCH_").lower() not in fields
    ]
    assert not unknown, f"streams/settings.py has no setting for {unknown}"
    assert env.get("MODWATCH_WEB_HOST") == "0.0.0.0", "in a container the worker must listen on 0.0.0.0"


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
    assert [job["job_name"] for job in local["scrape_configs"]] == [job["job_name"] for job in composed["scrape_configs"]]


@pytest.mark.parametrize("config_path", [PROMETHEUS_LOCAL, PROMETHEUS_COMPOSE], ids=lambda path: path.name)
def test_rule_files_exist_and_are_valid_yaml(config_path):
    patterns = load_yaml(config_path)["rule_files"]
    assert patterns
    for pattern in patterns:
        files = glob.glob(str(config_path.parent / pattern))
        assert files, f"{config_path.name}: rule_files {pattern!r} matches nothing"
        for file in files:
            document = load_yaml(Path(file))
            assert isinstance(document, dict) and document.get("groups"), f"{file}: no rule groups"


def test_alert_rules_have_severity_and_annotations():
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {"ModwatchWorkerDown", "ModwatchDeadLetterRateHigh", "ModwatchNoInput"}
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]


def test_rules_and_dashboards_use_only_exported_metrics():
    exported = exported_metric_names()
    used = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    for path in dashboard_files():
        used.update({f"{path.name}: {expr}": expr for expr in dashboard_exprs(path)})
    unknown = {
        where: sorted(set(re.findall(r"\bmodwatch_\w+", expr)) - exported)
        for where, expr in used.items()
    }
    unknown = {where: names for where, names in unknown.items() if names}
    assert not unknown, f"metrics not in streams/metrics.py: {unknown}"


def test_every_alert_has_a_unit_test():
    tests = load_yaml(RULE_TESTS)["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    firing = {
        case["alertname"]
        for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    silent = {
        case["alertname"]
        for test in tests for case in test.get("alert_rule_test", []) if not case.get("exp_alerts")
    }
    for rule in alert_rules():
        assert rule["alert"] in tested, f"{rule['alert']} has no promtool test"
        assert rule["alert"] in firing and rule["alert"] in silent, f"{rule['alert']} needs a firing and a not-firing case"


# --- Alertmanager and Grafana -----------------------------------------------------------


def test_alertmanager_routes_and_inhibition():
    config = load_yaml(ALERTMANAGER)
    route = config["route"]
    assert route["group_by"] == ["alertname", "platform"]
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert route["receiver"] in receivers
    for child in route.get("routes", []):
        assert child["receiver"] in receivers
    urls = [hook["url"] for hook in receivers["pager"]["webhook_configs"]]
    assert urls == ["http://127.0.0.1:5001/page"]
    inhibit = config["inhibit_rules"]
    assert any("ModwatchWorkerDown" in " ".join(rule["source_matchers"]) for rule in inhibit)
    # The label the inhibition compares must be on every alert it covers.
    rule_labels = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    for rule in inhibit:
        for label in rule.get("equal", []):
            for name in ("ModwatchNoInput", "ModwatchDeadLetterRateHigh"):
                assert re.search(rf"by \([^)]*\b{label}\b", rule_labels[name]), f"{name} drops the {label} label"


def test_grafana_provisioning(services):
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    prometheus = next(source for source in datasources if source["type"] == "prometheus")
    assert prometheus["uid"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090" and "prometheus" in services
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "modwatch.yml")["providers"]
    path = providers[0]["options"]["path"]
    mount = mount_for(services["grafana"], path)
    assert host_path(mount["source"]) == GRAFANA / "dashboards"
    mount = mount_for(services["grafana"], "/etc/grafana/provisioning")
    assert host_path(mount["source"]) == GRAFANA / "provisioning"
    for dashboard_path in dashboard_files():
        dashboard = json.loads(dashboard_path.read_text())
        assert dashboard["schemaVersion"] >= 39
        assert dashboard["uid"] and dashboard["title"]
        assert dashboard["panels"]
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == prometheus["uid"], panel["title"]
            assert panel["targets"], panel["title"]


def test_pipeline_dashboard_panels():
    exprs = " ".join(re.sub(r"\s+", "", expr) for expr in dashboard_exprs(GRAFANA / "dashboards" / "pipeline-health.json"))
    for needle in (
        "rate(modwatch_events_total[5m])",
        "rate(modwatch_deadletters_total[5m])",
        "rate(modwatch_takedown_requests_total[5m])",
        "histogram_quantile(0.99,sumby(le,detector)(rate(modwatch_detector_batch_duration_seconds_bucket[5m])))",
    ):
        assert needle in exprs, needle


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


def test_promtool(tmp_path):
    promtool = require("promtool", "prometheus")
    run(promtool, "check", "config", "deploy/prometheus/prometheus.yml")
    run(promtool, "check", "config", "deploy/prometheus/prometheus.compose.yml")
    run(promtool, "check", "rules", "deploy/prometheus/rules/modwatch.yml")
    run(promtool, "test", "rules", "deploy/prometheus/tests/modwatch_test.yml")
    # The dashboards' queries parse: check them as recording rules.
    records = [
        {"record": f"dashboard:query_{index}", "expr": expr}
        for index, expr in enumerate(expr for path in dashboard_files() for expr in dashboard_exprs(path))
    ]
    dashboard_rules = tmp_path / "dashboard-queries.yml"
    dashboard_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}))
    run(promtool, "check", "rules", str(dashboard_rules))


def test_amtool():
    amtool = require("amtool", "prometheus-alertmanager")
    run(amtool, "check-config", "deploy/alertmanager/alertmanager.yml")
    for labels, receiver in (
        (["alertname=ModwatchWorkerDown", "severity=critical"], "pager"),
        (["alertname=ModwatchNoInput", "severity=warning"], "ticket"),
        (["alertname=ModwatchDeadLetterRateHigh", "severity=warning"], "ticket"),
    ):
        output = run(amtool, "config", "routes", "test", "--config.file=deploy/alertmanager/alertmanager.yml", *labels)
        assert output.split()[0] == receiver, (labels, output)
