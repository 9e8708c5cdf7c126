"""deploy/kubernetes/ is valid Kubernetes and agrees with the code, docker-compose.yml and local.sh.

No cluster is needed. Every manifest is parsed and checked in two ways:

1. Against schemas. The built-in kinds against the strict JSON schemas of the pinned
   ``kubernetes-validate`` package (unknown fields refused, required fields required, types
   checked), for the oldest Kubernetes docs/kubernetes.md supports and the newest the package
   has. Strimzi's Kafka, KafkaNodePool and KafkaUser and the Prometheus Operator's
   ServiceMonitor against the extracts of their CRD schemas in tests/data/crd-schemas/
   (README.md there: source, commits, what an extract leaves out).
2. Against the repository: the image and its user as docker-compose.yml and the Dockerfile
   have them; the ports and probe paths as the worker serves them; every environment
   variable one that the code (or Faust) reads, and accepted by the worker's own settings
   loader; every secret from a Secret, none written out; the config files the worker reads
   mounted where it reads them; the Kafka version, replication and message sizes as
   deploy/kafka/local.sh has them; the scrape job the alert rules select.

Each check returns its problems, one line each naming the file, the kind/name and the field:

    deploy/kubernetes/worker-statefulset.yaml: StatefulSet/modwatch-worker:
    spec.template.spec.containers[0].readinessProbe.httpGet.port: 6067 is not the worker's web port 6066

The first test expects none. The others break a copy of the manifests in memory and expect
exactly the problem that was made.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from detectors.configfile import ConfigError
from streams import access, kafka_auth
from streams.settings import RULES, Settings

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
SECRET_EXAMPLE = MANIFESTS / "secret.example.yaml"
CRD_SCHEMAS = ROOT / "tests" / "data" / "crd-schemas"
CONFIG = ROOT / "config"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
LOCAL_SH = ROOT / "deploy" / "kafka" / "local.sh"
ENV_EXAMPLE = ROOT / "deploy" / "modwatch.env.example"
PROMETHEUS_COMPOSE = ROOT / "deploy" / "prometheus" / "prometheus.compose.yml"
CODE_PACKAGES = ("streams", "detectors", "takedowns")

# The oldest Kubernetes docs/kubernetes.md supports (persistentVolumeClaimRetentionPolicy is GA
# there) and the newest the pinned kubernetes-validate has schemas for.
KUBERNETES_VERSIONS = ("1.32", "1.37")
# Secrets by name: these never have a literal value in a manifest.
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET)")
# The keys of the Secret that Strimzi's User Operator makes for a SCRAM-SHA-512 KafkaUser.
STRIMZI_USER_SECRET_KEYS = {"password", "sasl.jaas.config"}
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Manifest:
    """One YAML document of deploy/kubernetes/, with where it came from for the messages."""

    path: Path
    body: dict

    @property
    def kind(self) -> str:
        return self.body.get("kind", "?")

    @property
    def name(self) -> str:
        return self.body.get("metadata", {}).get("name", "?")

    def problem(self, field: str, message: str) -> str:
        return f"{self.path.relative_to(ROOT)}: {self.kind}/{self.name}: {field}: {message}"


def load_manifests() -> list[Manifest]:
    manifests = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path == KUSTOMIZATION:
            continue
        with path.open(encoding="utf-8") as handle:
            manifests.extend(Manifest(path, body) for body in yaml.load_all(handle, Loader=LOADER) if body)
    return manifests


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=LOADER)


def field_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [item for item in manifests if item.kind == kind and (name is None or item.name == name)]


def selects(selector: dict, labels: dict) -> bool:
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


# ---------------------------------------------------------------------------------------------
# What the repository says: read once, from the files the manifests must agree with.


@dataclass(frozen=True)
class Repository:
    compose_worker: dict
    dockerfile_uid: int
    dockerfile_command: list
    kafka_version: str
    kafka_message_bytes: dict
    config_files: list[str]
    config_web_port: int
    routes: frozenset
    env_read: frozenset
    env_example: dict  # variable -> required (set, not commented out, in modwatch.env.example)
    platform_secrets_used: frozenset  # named by a platform's secret_env or password_env
    platform_secrets_shown: frozenset  # those and the ones its comments show as examples
    scrape_job: str
    scrape_interval: str


def dockerfile_facts() -> tuple[int, list]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    uid = int(re.search(r"useradd[^\n]*--uid (\d+)", text).group(1))
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))
    return uid, command


def local_sh_facts() -> tuple[str, dict]:
    text = LOCAL_SH.read_text(encoding="utf-8")
    version = re.search(r"^KAFKA_VERSION=(\S+)", text, re.MULTILINE).group(1)
    sizes = {
        key: int(value) for key, value in re.findall(r"^((?:message|replica\.fetch)\.max\.bytes)=(\d+)$", text, re.M)
    }
    return version, sizes


@functools.cache
def source_texts() -> tuple[str, ...]:
    return tuple(
        path.read_text(encoding="utf-8") for package in CODE_PACKAGES for path in (ROOT / package).rglob("*.py")
    )


def served_routes() -> frozenset:
    """Paths of the @app.page(...) views and of the Prometheus sensor's pattern=, from the source."""
    routes = set()
    for text in source_texts():
        routes.update(re.findall(r"\.page\(\s*[\"']([^\"']+)[\"']", text))
        routes.update(re.findall(r"\bpattern=[\"'](/[^\"']*)[\"']", text))
    return frozenset(routes)


def environment_read_by_code() -> frozenset:
    """MODWATCH_<KEY> of every setting, each MODWATCH_ name the code spells out, and Faust's own."""
    import faust.types.settings.settings as faust_settings

    names = {f"MODWATCH_{key.upper()}" for key in RULES}
    for text in source_texts():
        names.update(re.findall(r"[\"'](MODWATCH_[A-Z0-9_]*[A-Z0-9])[\"']", text))
    names |= {param.env_name for param in faust_settings.Settings.SETTINGS.values() if param.env_name}
    return frozenset(names)


def env_example_variables() -> dict:
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(#\s*)?(MODWATCH_[A-Z0-9_]+)=.*", line.strip())
        if match:
            found[match.group(2)] = match.group(1) is None
    return found


def platform_secret_names() -> tuple[frozenset, frozenset]:
    """The variables config/platforms.yaml names for credentials: in its entries; in those and its examples."""
    text = (CONFIG / "platforms.yaml").read_text(encoding="utf-8")
    used = set()

    def walk(node):
        if isinstance(node, dict):
            used.update(value for key, value in node.items() if key in ("secret_env", "password_env"))
            node = list(node.values())
        for child in node if isinstance(node, list) else ():
            walk(child)

    walk(yaml.load(text, Loader=LOADER))
    shown = set(re.findall(r"\b(?:secret_env|password_env):\s*(MODWATCH_[A-Z0-9_]+)", text))
    return frozenset(used), frozenset(used | shown)


@functools.cache
def repository() -> Repository:
    compose = load_yaml(COMPOSE)
    prometheus = load_yaml(PROMETHEUS_COMPOSE)
    (job,) = [job for job in prometheus["scrape_configs"] if job.get("metrics_path") == "/metrics"]
    uid, command = dockerfile_facts()
    version, sizes = local_sh_facts()
    secrets_used, secrets_shown = platform_secret_names()
    return Repository(
        compose_worker=compose["services"]["worker"],
        dockerfile_uid=uid,
        dockerfile_command=command,
        kafka_version=version,
        kafka_message_bytes=sizes,
        config_files=sorted(path.name for path in CONFIG.glob("*.yaml")),
        config_web_port=int(load_yaml(CONFIG / "modwatch.yaml")["web_port"]),
        routes=served_routes(),
        env_read=environment_read_by_code(),
        env_example=env_example_variables(),
        platform_secrets_used=secrets_used,
        platform_secrets_shown=secrets_shown,
        scrape_job=job["job_name"],
        scrape_interval=prometheus["global"]["scrape_interval"],
    )


# ---------------------------------------------------------------------------------------------
# Schemas.


def strict(schema):
    """The CRD extract as the API server applies it with strict field validation: no unknown fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        if not result.get("x-kubernetes-preserve-unknown-fields"):
            result["additionalProperties"] = False
    return result


@functools.cache
def crd_extracts() -> dict:
    extracts = {}
    for path in sorted(CRD_SCHEMAS.glob("*.yaml")):
        extract = load_yaml(path)
        key = (f"{extract['group']}/{extract['version']}", extract["kind"])
        extracts[key] = (path, jsonschema.Draft202012Validator(strict(extract["schema"])))
    return extracts


@functools.cache
def builtin_validator(version: str, api_version: str, kind: str):
    """kubernetes-validate's strict schema of a kind, or None when it has none (a custom resource)."""
    folder = f"kubernetes-json-schema/v{version}.0-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        return None
    definitions = builtin_definitions(folder, version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def builtin_definitions(folder: str, version: str) -> dict:
    return schema_contents(f"{folder}/_definitions.json", version)


def error_lines(manifest: Manifest, validator, suffix: str) -> list[str]:
    lines = []
    for error in validator.iter_errors(manifest.body):
        parts = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            listed = error.schema.get("properties", {})
            for extra in sorted(set(error.instance) - set(listed)):
                lines.append(manifest.problem(field_path([*parts, extra]), f"unknown field ({suffix})"))
        else:
            lines.append(manifest.problem(field_path(parts), f"{error.message} ({suffix})"))
    return lines


def schema_problems(manifests: list[Manifest]) -> list[str]:
    problems: dict[str, None] = {}
    for manifest in manifests:
        api_version = manifest.body.get("apiVersion", "")
        extract = crd_extracts().get((api_version, manifest.kind))
        if extract is not None:
            path, validator = extract
            for line in error_lines(manifest, validator, f"schema extract {path.relative_to(ROOT)}"):
                problems[line] = None
            continue
        failures: dict[str, list[str]] = {}
        for version in KUBERNETES_VERSIONS:
            validator = builtin_validator(version, api_version, manifest.kind)
            if validator is None:
                problems[manifest.problem("apiVersion", f"no schema for {api_version} {manifest.kind}")] = None
                break
            # One line for a problem every version has, naming the versions.
            for line in error_lines(manifest, validator, "Kubernetes \0"):
                failures.setdefault(line, []).append(version)
        for line, versions in failures.items():
            problems[line.replace("\0", ", ".join(versions))] = None
    return list(problems)


# ---------------------------------------------------------------------------------------------
# The worker.


def worker(manifests: list[Manifest]) -> Manifest:
    (statefulset,) = find(manifests, "StatefulSet")
    return statefulset


def container(statefulset: Manifest) -> tuple[str, dict]:
    containers = statefulset.body["spec"]["template"]["spec"]["containers"]
    return "spec.template.spec.containers[0]", containers[0]


def literal_env(item: dict) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in item.get("env", []) if "value" in entry}


def web_port(item: dict) -> int:
    """The worker's web port as the pod configures it: its environment, else config/modwatch.yaml."""
    return int(literal_env(item).get("MODWATCH_WEB_PORT", repository().config_web_port))


def resolve_port(item: dict, port) -> int | None:
    if isinstance(port, int):
        return port
    named = {entry.get("name"): entry["containerPort"] for entry in item.get("ports", [])}
    return named.get(port)


def probe_problems(statefulset: Manifest) -> list[str]:
    where, item = container(statefulset)
    port = web_port(item)
    problems = []
    if resolve_port(item, "web") != port:
        problems.append(statefulset.problem(f"{where}.ports", f"no port named web on the worker's web port {port}"))
    wanted = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": None}
    for probe, path in wanted.items():
        if probe not in item:
            if path is not None:
                problems.append(statefulset.problem(f"{where}.{probe}", f"missing: the worker serves {path}"))
            continue
        get = item[probe].get("httpGet", {})
        given = get.get("port")
        if resolve_port(item, given) != port:
            shown = given if isinstance(given, int) else f"{given} ({resolve_port(item, given)})"
            problems.append(
                statefulset.problem(f"{where}.{probe}.httpGet.port", f"{shown} is not the worker's web port {port}")
            )
        if path is not None and get.get("path") != path:
            problems.append(statefulset.problem(f"{where}.{probe}.httpGet.path", f"{get.get('path')!r}, not {path!r}"))
        elif get.get("path") not in repository().routes:
            problems.append(statefulset.problem(f"{where}.{probe}.httpGet.path", "no route of the worker serves it"))
    return problems


def image_problems(statefulset: Manifest) -> list[str]:
    where, item = container(statefulset)
    facts = repository()
    problems = []
    if item.get("image") != facts.compose_worker["image"]:
        problems.append(
            statefulset.problem(
                f"{where}.image", f"{item.get('image')!r}, not compose's {facts.compose_worker['image']!r}"
            )
        )
    command = item.get("command", []) + item.get("args", [])
    if command and command != facts.dockerfile_command:
        problems.append(
            statefulset.problem(f"{where}.args", f"{command}, not the Dockerfile's {facts.dockerfile_command}")
        )
    pod_security = statefulset.body["spec"]["template"]["spec"].get("securityContext", {})
    if pod_security.get("runAsUser") != facts.dockerfile_uid or not pod_security.get("runAsNonRoot"):
        problems.append(
            statefulset.problem(
                "spec.template.spec.securityContext",
                f"runAsNonRoot and runAsUser {facts.dockerfile_uid} (the Dockerfile's user) expected",
            )
        )
    if statefulset.body["spec"]["template"]["spec"].get("enableServiceLinks") is not False:
        problems.append(
            statefulset.problem(
                "spec.template.spec.enableServiceLinks",
                "must be false: a Service named modwatch-web would set MODWATCH_WEB_PORT=tcp://...",
            )
        )
    return problems


def env_name_problems(statefulset: Manifest) -> list[str]:
    where, item = container(statefulset)
    facts = repository()
    known = facts.env_read | facts.platform_secrets_shown
    values = " ".join(entry.get("value", "") for entry in item.get("env", []))
    problems = []
    for index, entry in enumerate(item.get("env", [])):
        name = entry["name"]
        referenced = f"$({name})" in values
        if name not in known and not referenced:
            problems.append(statefulset.problem(f"{where}.env[{index}]", f"{name}: no code reads it"))
        if SECRET_NAME.search(name) and "value" in entry:
            problems.append(
                statefulset.problem(f"{where}.env[{index}]", f"{name}: a secret, written out: use secretKeyRef")
            )
    return problems


def settings_problems(statefulset: Manifest) -> list[str]:
    """The worker's own loaders accept the pod's environment (secrets stand in as 16 x's)."""
    where, item = container(statefulset)
    environ = literal_env(item)
    for entry in item.get("env", []):
        if "secretKeyRef" in entry.get("valueFrom", {}):
            environ[entry["name"]] = "x" * access.MIN_TOKEN_LENGTH
    problems = []
    try:
        Settings.load(CONFIG, environ)
    except ConfigError as error:
        problems.extend(statefulset.problem(f"{where}.env", line) for line in error.problems)
    try:
        kafka_auth.credentials(environ)
    except kafka_auth.KafkaAuthError as error:
        problems.append(statefulset.problem(f"{where}.env", str(error)))
    exposure = access.exposure_problem(environ.get("MODWATCH_WEB_HOST", "127.0.0.1"), environ)
    if exposure:
        problems.append(statefulset.problem(f"{where}.env", exposure))
    return problems


def compose_problems(statefulset: Manifest) -> list[str]:
    """The same folders and listening address as docker-compose.yml's worker."""
    where, item = container(statefulset)
    environ = literal_env(item)
    problems = []
    for name in ("MODWATCH_CONFIG_DIR", "MODWATCH_DATA_DIR", "MODWATCH_WEB_HOST"):
        expected = repository().compose_worker["environment"][name]
        if environ.get(name) != expected:
            problems.append(
                statefulset.problem(f"{where}.env", f"{name} is {environ.get(name)!r}, compose has {expected!r}")
            )
    if environ.get("MODWATCH_STORE") != "rocksdb://":
        problems.append(statefulset.problem(f"{where}.env", "MODWATCH_STORE must be rocksdb:// (the volume keeps it)"))
    return problems


def mount_problems(statefulset: Manifest, config_map_name: str) -> list[str]:
    where, item = container(statefulset)
    environ = literal_env(item)
    spec = statefulset.body["spec"]
    volumes = {volume["name"]: volume for volume in spec["template"]["spec"].get("volumes", [])}
    claims = {claim["metadata"]["name"] for claim in spec.get("volumeClaimTemplates", [])}
    mounts = {mount["mountPath"]: mount for mount in item.get("volumeMounts", [])}
    problems = []
    data = mounts.get(environ.get("MODWATCH_DATA_DIR"))
    if data is None or data["name"] not in claims:
        problems.append(
            statefulset.problem(f"{where}.volumeMounts", "MODWATCH_DATA_DIR is not on a volumeClaimTemplate")
        )
    if item.get("securityContext", {}).get("readOnlyRootFilesystem"):
        tmp = mounts.get("/tmp")
        if tmp is None or "emptyDir" not in volumes.get(tmp["name"], {}):
            problems.append(statefulset.problem(f"{where}.volumeMounts", "a read-only root needs an emptyDir at /tmp"))
    return problems + config_mount_problems(statefulset, config_map_name, volumes, mounts)


def config_mount_problems(statefulset: Manifest, config_map_name: str, volumes: dict, mounts: dict) -> list[str]:
    """Each config/*.yaml from the ConfigMap at MODWATCH_CONFIG_DIR/<name>, and nothing else there."""
    where, item = container(statefulset)
    config_dir = literal_env(item).get("MODWATCH_CONFIG_DIR", "")
    mounted = {}
    for path, mount in mounts.items():
        if path.startswith(config_dir + "/"):
            source = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
            mounted[path.removeprefix(config_dir + "/")] = (source, mount.get("subPath"))
    problems = []
    for name in repository().config_files:
        if mounted.get(name) != (config_map_name, name):
            problems.append(
                statefulset.problem(
                    f"{where}.volumeMounts",
                    f"{config_dir}/{name}: not mounted from ConfigMap {config_map_name!r} (subPath {name}); "
                    "the worker reads it from MODWATCH_CONFIG_DIR",
                )
            )
    for name in sorted(set(mounted) - set(repository().config_files)):
        problems.append(statefulset.problem(f"{where}.volumeMounts", f"{config_dir}/{name}: not a config file"))
    return problems


def canonical_url_problems(statefulset: Manifest) -> list[str]:
    where, item = container(statefulset)
    environ = literal_env(item)
    service = statefulset.body["spec"]["serviceName"]
    expected = f"http://$(POD_NAME).{service}.$(POD_NAMESPACE).svc:{web_port(item)}"
    problems = []
    if environ.get("NODE_CANONICAL_URL") != expected:
        problems.append(
            statefulset.problem(
                f"{where}.env", f"NODE_CANONICAL_URL is {environ.get('NODE_CANONICAL_URL')!r}, not {expected!r}"
            )
        )
    fields = {
        entry["name"]: entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for entry in item.get("env", [])
    }
    for name, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        if fields.get(name) != field:
            problems.append(statefulset.problem(f"{where}.env", f"{name} must come from the fieldRef {field}"))
    return problems


def worker_problems(manifests: list[Manifest]) -> list[str]:
    statefulset = worker(manifests)
    kustomization = load_yaml(KUSTOMIZATION)
    (generator,) = kustomization["configMapGenerator"]
    return (
        image_problems(statefulset)
        + probe_problems(statefulset)
        + env_name_problems(statefulset)
        + settings_problems(statefulset)
        + compose_problems(statefulset)
        + mount_problems(statefulset, generator["name"])
        + canonical_url_problems(statefulset)
    )


# ---------------------------------------------------------------------------------------------
# Secrets.


def secret_refs(statefulset: Manifest) -> list[tuple[int, str, dict]]:
    _, item = container(statefulset)
    refs = []
    for index, entry in enumerate(item.get("env", [])):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            refs.append((index, entry["name"], ref))
    return refs


def secret_problems(manifests: list[Manifest], example: Manifest) -> list[str]:
    statefulset = worker(manifests)
    where, _ = container(statefulset)
    facts = repository()
    refs = {name: (index, ref) for index, name, ref in secret_refs(statefulset)}
    users = {user.name for user in find(manifests, "KafkaUser")}
    example_keys = set(example.body.get("stringData", {})) | set(example.body.get("data", {}))
    problems = []
    # Every secret modwatch.env.example lists or platforms.yaml shows; those set there or in use are required.
    needed = {name for name in facts.env_example if SECRET_NAME.search(name)} | facts.platform_secrets_shown
    required = {name for name, is_set in facts.env_example.items() if is_set} | facts.platform_secrets_used
    for name in sorted(needed - set(refs)):
        problems.append(statefulset.problem(f"{where}.env", f"{name}: not from a secretKeyRef (modwatch.env.example)"))
    for name, (index, ref) in sorted(refs.items()):
        if name in required and ref.get("optional"):
            problems.append(statefulset.problem(f"{where}.env[{index}]", f"{name}: the worker needs it; not optional"))
        if ref["name"] in users:
            if ref["key"] not in STRIMZI_USER_SECRET_KEYS:
                problems.append(
                    statefulset.problem(f"{where}.env[{index}]", f"{ref['key']!r}: not a KafkaUser Secret key")
                )
        elif ref["name"] != example.name:
            problems.append(statefulset.problem(f"{where}.env[{index}]", f"Secret {ref['name']!r}: no such Secret"))
        elif ref["key"] not in example_keys:
            problems.append(
                example.problem(
                    f"stringData.{ref['key']}", f"missing; {statefulset.kind}/{statefulset.name} reads it ({name})"
                )
            )
    return problems + example_problems(example)


def example_problems(example: Manifest) -> list[str]:
    """The example is never applied, and its API token could never start a worker."""
    problems = []
    resources = load_yaml(KUSTOMIZATION)["resources"]
    if SECRET_EXAMPLE.name in resources:
        problems.append(example.problem("kustomization.yaml resources", "the example must not be applied"))
    token = example.body.get("stringData", {}).get("MODWATCH_API_TOKEN", "")
    if len(token) >= access.MIN_TOKEN_LENGTH:
        problems.append(
            example.problem(
                "stringData.MODWATCH_API_TOKEN",
                f"a placeholder of {access.MIN_TOKEN_LENGTH} characters or more would start a worker with it",
            )
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Kafka.


def whole_number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def kafka_config_problems(kafka: Manifest, statefulset: Manifest) -> list[str]:
    """Kafka's defaults are the worker's topic settings; the rest as deploy/kafka/local.sh has them."""
    facts = repository()
    where, item = container(statefulset)
    environ = literal_env(item)
    config = kafka.body["spec"]["kafka"].get("config", {})
    expected = {
        "default.replication.factor": whole_number(environ.get("MODWATCH_REPLICATION_FACTOR")),
        "min.insync.replicas": whole_number(environ.get("MODWATCH_MIN_INSYNC_REPLICAS")),
        "num.partitions": whole_number(environ.get("MODWATCH_PARTITIONS")),
        "unclean.leader.election.enable": False,
        "offsets.topic.replication.factor": 3,
        "transaction.state.log.replication.factor": 3,
        "transaction.state.log.min.isr": 2,
        **facts.kafka_message_bytes,
    }
    problems = []
    if kafka.body["spec"]["kafka"].get("version") != facts.kafka_version:
        problems.append(
            kafka.problem(
                "spec.kafka.version",
                f"{kafka.body['spec']['kafka'].get('version')!r}, local.sh has {facts.kafka_version!r}",
            )
        )
    if (expected["default.replication.factor"], expected["min.insync.replicas"]) != (3, 2):
        problems.append(
            statefulset.problem(
                f"{where}.env", "MODWATCH_REPLICATION_FACTOR 3 and MODWATCH_MIN_INSYNC_REPLICAS 2 expected"
            )
        )
    for key, value in expected.items():
        if config.get(key) != value:
            problems.append(kafka.problem(f"spec.kafka.config.{key}", f"{config.get(key)!r}, expected {value!r}"))
    return problems


def node_pool_problems(manifests: list[Manifest], kafka: Manifest) -> list[str]:
    pools = find(manifests, "KafkaNodePool") + find(manifests, "KafkaUser")
    problems = [
        pool.problem("metadata.labels.strimzi.io/cluster", f"not the Kafka {kafka.name!r}")
        for pool in pools
        if pool.body["metadata"].get("labels", {}).get("strimzi.io/cluster") != kafka.name
    ]
    counts = {"broker": 0, "controller": 0}
    for pool in find(manifests, "KafkaNodePool"):
        for role in pool.body["spec"].get("roles", []):
            counts[role] = counts.get(role, 0) + pool.body["spec"].get("replicas", 0)
    replication = kafka.body["spec"]["kafka"].get("config", {}).get("default.replication.factor", 0)
    if counts["broker"] < replication:
        problems.append(kafka.problem("node pools", f"{counts['broker']} brokers for {replication} replicas"))
    if counts["controller"] < 3 or counts["controller"] % 2 == 0:
        problems.append(kafka.problem("node pools", f"{counts['controller']} controllers: 3 or another odd number"))
    return problems


def broker_address_problems(manifests: list[Manifest], kafka: Manifest, statefulset: Manifest) -> list[str]:
    where, item = container(statefulset)
    environ = literal_env(item)
    match = re.fullmatch(r"kafka://([^:;]+):(\d+)", environ.get("MODWATCH_BROKER", ""))
    listeners = {listener["port"]: listener for listener in kafka.body["spec"]["kafka"].get("listeners", [])}
    bootstrap = f"{kafka.name}-kafka-bootstrap"
    if match is None or match.group(1) != bootstrap or int(match.group(2)) not in listeners:
        given = environ.get("MODWATCH_BROKER")
        return [
            statefulset.problem(
                f"{where}.env", f"MODWATCH_BROKER {given!r}: not kafka://{bootstrap}:<a listener's port>"
            )
        ]
    listener = listeners[int(match.group(2))]
    scram = listener.get("authentication", {}).get("type") == "scram-sha-512"
    problems = []
    if scram != (environ.get("MODWATCH_KAFKA_SASL_MECHANISM") == "SCRAM-SHA-512"):
        problems.append(
            statefulset.problem(
                f"{where}.env", f"MODWATCH_KAFKA_SASL_MECHANISM does not match listener {listener['name']}"
            )
        )
    if scram and environ.get("MODWATCH_KAFKA_USERNAME") not in {user.name for user in find(manifests, "KafkaUser")}:
        problems.append(statefulset.problem(f"{where}.env", "MODWATCH_KAFKA_USERNAME names no KafkaUser"))
    if listener.get("tls") != ("MODWATCH_KAFKA_CA_FILE" in environ):
        problems.append(
            statefulset.problem(f"{where}.env", f"MODWATCH_KAFKA_CA_FILE and listener {listener['name']}'s tls differ")
        )
    return problems


def kafka_problems(manifests: list[Manifest]) -> list[str]:
    (kafka,) = find(manifests, "Kafka")
    statefulset = worker(manifests)
    _, item = container(statefulset)
    problems = kafka_config_problems(kafka, statefulset)
    problems += node_pool_problems(manifests, kafka)
    problems += broker_address_problems(manifests, kafka, statefulset)
    partitions = whole_number(literal_env(item).get("MODWATCH_PARTITIONS")) or 0
    if statefulset.body["spec"].get("replicas", 1) > partitions:
        problems.append(statefulset.problem("spec.replicas", f"more workers than the {partitions} partitions"))
    return problems


# ---------------------------------------------------------------------------------------------
# Services, scraping, disruption budget, network policy, kustomization.


def service_port_problems(service: Manifest, item: dict) -> list[str]:
    port = web_port(item)
    problems = []
    for index, entry in enumerate(service.body["spec"].get("ports", [])):
        if resolve_port(item, entry.get("targetPort", entry.get("port"))) != port:
            problems.append(service.problem(f"spec.ports[{index}].targetPort", f"not the worker's web port {port}"))
    return problems


def service_problems(manifests: list[Manifest]) -> list[str]:
    statefulset = worker(manifests)
    _, item = container(statefulset)
    pod_labels = statefulset.body["spec"]["template"]["metadata"]["labels"]
    problems = []
    for service in find(manifests, "Service"):
        if not selects(service.body["spec"].get("selector", {}), pod_labels):
            problems.append(service.problem("spec.selector", "selects no worker pod"))
        problems += service_port_problems(service, item)
    peers = find(manifests, "Service", statefulset.body["spec"]["serviceName"])
    if not peers or peers[0].body["spec"].get("clusterIP") != "None":
        problems.append(statefulset.problem("spec.serviceName", "names no headless Service"))
    elif not peers[0].body["spec"].get("publishNotReadyAddresses"):
        problems.append(
            peers[0].problem("spec.publishNotReadyAddresses", "workers must reach and scrape unready peers")
        )
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for manifest in find(manifests, kind):
            selector = manifest.body["spec"].get("selector", manifest.body["spec"].get("podSelector", {}))
            if not selects(selector, pod_labels):
                problems.append(manifest.problem("spec.selector", "selects no worker pod"))
    for policy in find(manifests, "NetworkPolicy"):
        for index, rule in enumerate(policy.body["spec"].get("ingress", [])):
            for entry in rule.get("ports", []):
                if resolve_port(item, entry.get("port")) != web_port(item):
                    problems.append(policy.problem(f"spec.ingress[{index}].ports", "not the worker's web port"))
    return problems + scrape_problems(manifests)


def scrape_problems(manifests: list[Manifest]) -> list[str]:
    facts = repository()
    problems = []
    for monitor in find(manifests, "ServiceMonitor"):
        spec = monitor.body["spec"]
        chosen = [
            service
            for service in find(manifests, "Service")
            if selects(spec["selector"], service.body["metadata"]["labels"])
        ]
        if len(chosen) != 1:
            names = [service.name for service in chosen]
            problems.append(
                monitor.problem("spec.selector", f"selects {names}: one Service, or each pod is scraped twice")
            )
            continue
        service = chosen[0]
        job = service.body["metadata"]["labels"].get(spec.get("jobLabel", ""), service.name)
        if job != facts.scrape_job:
            problems.append(
                monitor.problem("spec.jobLabel", f"job {job!r}; the alert rules select job={facts.scrape_job!r}")
            )
        port_names = {port.get("name") for port in service.body["spec"]["ports"]}
        for index, endpoint in enumerate(spec["endpoints"]):
            if endpoint.get("port") not in port_names:
                problems.append(
                    monitor.problem(f"spec.endpoints[{index}].port", f"no such port on Service/{service.name}")
                )
            if endpoint.get("path", "/metrics") not in facts.routes:
                problems.append(monitor.problem(f"spec.endpoints[{index}].path", "no route of the worker serves it"))
            if endpoint.get("interval") != facts.scrape_interval:
                problems.append(
                    monitor.problem(
                        f"spec.endpoints[{index}].interval", f"compose scrapes every {facts.scrape_interval}"
                    )
                )
    return problems


def kustomization_problems() -> list[str]:
    kustomization = load_yaml(KUSTOMIZATION)
    where = KUSTOMIZATION.relative_to(ROOT)
    files = sorted(path.name for path in MANIFESTS.glob("*.yaml") if path not in (KUSTOMIZATION, SECRET_EXAMPLE))
    problems = []
    if sorted(kustomization["resources"]) != files:
        problems.append(f"{where}: resources: {sorted(kustomization['resources'])}, expected {files}")
    (generator,) = kustomization["configMapGenerator"]
    generated = sorted(Path(name).name for name in generator["files"])
    if generated != repository().config_files:
        problems.append(f"{where}: configMapGenerator.files: {generated}, expected {repository().config_files}")
    for name in generator["files"]:
        if (MANIFESTS / name).resolve().parent != CONFIG:
            problems.append(f"{where}: configMapGenerator.files: {name} is not in config/")
    return problems


def all_problems(manifests: list[Manifest]) -> list[str]:
    (example,) = [manifest for manifest in manifests if manifest.path == SECRET_EXAMPLE]
    return (
        schema_problems(manifests)
        + worker_problems(manifests)
        + secret_problems(manifests, example)
        + kafka_problems(manifests)
        + service_problems(manifests)
        + kustomization_problems()
    )


# ---------------------------------------------------------------------------------------------
# The tests.


@pytest.fixture(scope="module")
def loaded() -> list[Manifest]:
    return load_manifests()


@pytest.fixture
def manifests(loaded) -> list[Manifest]:
    """A copy each test may break."""
    return [Manifest(item.path, copy.deepcopy(item.body)) for item in loaded]


def the(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    (found,) = find(manifests, kind, name)
    return found


def worker_container(manifests: list[Manifest]) -> dict:
    return container(worker(manifests))[1]


def env_entry(manifests: list[Manifest], name: str) -> dict:
    (entry,) = [entry for entry in worker_container(manifests)["env"] if entry["name"] == name]
    return entry


def env_index(manifests: list[Manifest], name: str) -> int:
    return [entry["name"] for entry in worker_container(manifests)["env"]].index(name)


STATEFULSET = "deploy/kubernetes/worker-statefulset.yaml: StatefulSet/modwatch-worker"
CONTAINER = "spec.template.spec.containers[0]"
VERSIONS = ", ".join(KUBERNETES_VERSIONS)


def test_the_manifests_have_no_problem(manifests):
    assert all_problems(manifests) == []


def test_every_manifest_is_checked_against_a_schema(manifests):
    kinds = {(item.body["apiVersion"], item.kind) for item in manifests}
    custom = {key for key in kinds if key in crd_extracts()}
    assert custom == set(crd_extracts()), "a CRD extract that no manifest uses"
    for api_version, kind in kinds - custom:
        assert all(builtin_validator(version, api_version, kind) for version in KUBERNETES_VERSIONS), kind


def open_fields(schema: dict, prefix: str = "") -> set[str]:
    """Dotted paths of the objects in a schema that take any field."""
    found = {prefix} if schema.get("x-kubernetes-preserve-unknown-fields") else set()
    for name, child in schema.get("properties", {}).items():
        found |= open_fields(child, f"{prefix}.{name}" if prefix else name)
    if isinstance(schema.get("items"), dict):
        found |= open_fields(schema["items"], prefix)
    return found


def test_an_extract_leaves_open_only_the_fields_it_lists():
    for path in CRD_SCHEMAS.glob("*.yaml"):
        extract = load_yaml(path)
        assert open_fields(extract["schema"]) == set(extract["unextracted"]) | set(extract["free_form"]), path.name


def test_a_readiness_probe_on_another_port_is_reported(manifests):
    worker_container(manifests)["readinessProbe"]["httpGet"]["port"] = 6067
    assert probe_problems(worker(manifests)) == [
        f"{STATEFULSET}: {CONTAINER}.readinessProbe.httpGet.port: 6067 is not the worker's web port 6066"
    ]


def test_a_liveness_probe_on_a_path_the_worker_does_not_serve_is_reported(manifests):
    worker_container(manifests)["livenessProbe"]["httpGet"]["path"] = "/health"
    assert probe_problems(worker(manifests)) == [
        f"{STATEFULSET}: {CONTAINER}.livenessProbe.httpGet.path: '/health', not '/healthz'"
    ]


def test_a_web_port_changed_in_the_environment_alone_is_reported(manifests):
    env_entry(manifests, "MODWATCH_WEB_PORT")["value"] = "7070"
    assert probe_problems(worker(manifests)) == [
        f"{STATEFULSET}: {CONTAINER}.ports: no port named web on the worker's web port 7070",
        f"{STATEFULSET}: {CONTAINER}.readinessProbe.httpGet.port: web (6066) is not the worker's web port 7070",
        f"{STATEFULSET}: {CONTAINER}.livenessProbe.httpGet.port: web (6066) is not the worker's web port 7070",
        f"{STATEFULSET}: {CONTAINER}.startupProbe.httpGet.port: web (6066) is not the worker's web port 7070",
    ]


def test_a_secret_key_missing_from_the_example_secret_is_reported(manifests):
    example = the(manifests, "Secret", "modwatch-secrets")
    del example.body["stringData"]["MODWATCH_API_TOKEN"]
    assert secret_problems(manifests, example) == [
        "deploy/kubernetes/secret.example.yaml: Secret/modwatch-secrets: stringData.MODWATCH_API_TOKEN: "
        "missing; StatefulSet/modwatch-worker reads it (MODWATCH_API_TOKEN)"
    ]


def test_a_secret_written_into_the_manifest_is_reported(manifests):
    entry = env_entry(manifests, "MODWATCH_API_TOKEN")
    entry.clear()
    entry.update(name="MODWATCH_API_TOKEN", value="an-api-token-in-plain-sight")
    index = env_index(manifests, "MODWATCH_API_TOKEN")
    example = the(manifests, "Secret", "modwatch-secrets")
    problems = env_name_problems(worker(manifests)) + secret_problems(manifests, example)
    assert problems == [
        f"{STATEFULSET}: {CONTAINER}.env[{index}]: MODWATCH_API_TOKEN: a secret, written out: use secretKeyRef",
        f"{STATEFULSET}: {CONTAINER}.env: MODWATCH_API_TOKEN: not from a secretKeyRef (modwatch.env.example)",
    ]


def test_a_required_secret_made_optional_is_reported(manifests):
    env_entry(manifests, "MODWATCH_API_TOKEN")["valueFrom"]["secretKeyRef"]["optional"] = True
    index = env_index(manifests, "MODWATCH_API_TOKEN")
    example = the(manifests, "Secret", "modwatch-secrets")
    assert secret_problems(manifests, example) == [
        f"{STATEFULSET}: {CONTAINER}.env[{index}]: MODWATCH_API_TOKEN: the worker needs it; not optional"
    ]


def test_an_example_token_long_enough_to_start_a_worker_is_reported(manifests):
    example = the(manifests, "Secret", "modwatch-secrets")
    example.body["stringData"]["MODWATCH_API_TOKEN"] = "replace-me-with-a-token"
    assert example_problems(example) == [
        "deploy/kubernetes/secret.example.yaml: Secret/modwatch-secrets: stringData.MODWATCH_API_TOKEN: "
        "a placeholder of 16 characters or more would start a worker with it"
    ]


def test_an_unknown_field_in_a_builtin_kind_is_reported(manifests):
    worker_container(manifests)["readinessProbe"]["periodSecond"] = 10
    assert schema_problems(manifests) == [
        f"{STATEFULSET}: {CONTAINER}.readinessProbe.periodSecond: unknown field (Kubernetes {VERSIONS})"
    ]


def test_a_wrong_type_in_a_builtin_kind_is_reported(manifests):
    worker_container(manifests)["ports"][0]["containerPort"] = "6066"
    assert schema_problems(manifests) == [
        f"{STATEFULSET}: {CONTAINER}.ports[0].containerPort: '6066' is not of type 'integer' (Kubernetes {VERSIONS})"
    ]


def test_a_missing_required_field_in_a_builtin_kind_is_reported(manifests):
    del the(manifests, "Service", "modwatch-worker").body["spec"]["ports"][0]["port"]
    assert schema_problems(manifests) == [
        "deploy/kubernetes/worker-services.yaml: Service/modwatch-worker: spec.ports[0]: "
        f"'port' is a required property (Kubernetes {VERSIONS})"
    ]


def test_a_wrong_type_in_a_strimzi_resource_is_reported(manifests):
    the(manifests, "Kafka").body["spec"]["kafka"]["listeners"][0]["tls"] = "false"
    assert schema_problems(manifests) == [
        "deploy/kubernetes/kafka.yaml: Kafka/modwatch: spec.kafka.listeners[0].tls: 'false' is not of type 'boolean' "
        "(schema extract tests/data/crd-schemas/kafka.strimzi.io_v1beta2_Kafka.yaml)"
    ]


def test_an_unknown_field_in_a_node_pool_is_reported(manifests):
    the(manifests, "KafkaNodePool", "broker").body["spec"]["replica"] = 3
    assert schema_problems(manifests) == [
        "deploy/kubernetes/kafka.yaml: KafkaNodePool/broker: spec.replica: unknown field "
        "(schema extract tests/data/crd-schemas/kafka.strimzi.io_v1beta2_KafkaNodePool.yaml)"
    ]


def test_a_bad_scrape_interval_in_the_service_monitor_is_reported(manifests):
    the(manifests, "ServiceMonitor").body["spec"]["endpoints"][0]["interval"] = "15 seconds"
    (problem,) = schema_problems(manifests)
    assert problem.startswith(
        "deploy/kubernetes/servicemonitor.yaml: ServiceMonitor/modwatch-worker: spec.endpoints[0].interval: "
        "'15 seconds' does not match"
    )


def test_a_kafka_version_other_than_local_sh_is_reported(manifests):
    the(manifests, "Kafka").body["spec"]["kafka"]["version"] = "4.0.0"
    assert kafka_problems(manifests) == [
        "deploy/kubernetes/kafka.yaml: Kafka/modwatch: spec.kafka.version: '4.0.0', local.sh has '4.1.1'"
    ]


def test_min_insync_replicas_that_differ_from_the_workers_are_reported(manifests):
    the(manifests, "Kafka").body["spec"]["kafka"]["config"]["min.insync.replicas"] = 1
    assert kafka_problems(manifests) == [
        "deploy/kubernetes/kafka.yaml: Kafka/modwatch: spec.kafka.config.min.insync.replicas: 1, expected 2"
    ]


def test_an_environment_variable_no_code_reads_is_reported(manifests):
    worker_container(manifests)["env"].append({"name": "MODWATCH_WEB_PROT", "value": "6066"})
    index = env_index(manifests, "MODWATCH_WEB_PROT")
    assert env_name_problems(worker(manifests)) == [
        f"{STATEFULSET}: {CONTAINER}.env[{index}]: MODWATCH_WEB_PROT: no code reads it"
    ]


def test_a_setting_the_worker_refuses_is_reported(manifests):
    """The message is streams/settings.py's own: only where it points is pinned here."""
    env_entry(manifests, "MODWATCH_MIN_INSYNC_REPLICAS")["value"] = "4"
    (problem,) = settings_problems(worker(manifests))
    assert problem.startswith(f"{STATEFULSET}: {CONTAINER}.env: environment MODWATCH_MIN_INSYNC_REPLICAS: ")
    assert "replication_factor 3" in problem


def test_a_config_file_left_unmounted_is_reported(manifests):
    mounts = worker_container(manifests)["volumeMounts"]
    mounts[:] = [mount for mount in mounts if mount.get("subPath") != "policy.yaml"]
    assert mount_problems(worker(manifests), "modwatch-config") == [
        f"{STATEFULSET}: {CONTAINER}.volumeMounts: /app/config/policy.yaml: not mounted from ConfigMap "
        "'modwatch-config' (subPath policy.yaml); the worker reads it from MODWATCH_CONFIG_DIR"
    ]


def test_an_image_other_than_composes_is_reported(manifests):
    worker_container(manifests)["image"] = "modwatch:latest"
    assert image_problems(worker(manifests)) == [
        f"{STATEFULSET}: {CONTAINER}.image: 'modwatch:latest', not compose's 'modwatch:local'"
    ]


def test_a_service_monitor_that_selects_both_services_is_reported(manifests):
    del the(manifests, "ServiceMonitor").body["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
    assert scrape_problems(manifests) == [
        "deploy/kubernetes/servicemonitor.yaml: ServiceMonitor/modwatch-worker: spec.selector: "
        "selects ['modwatch-worker-peers', 'modwatch-worker']: one Service, or each pod is scraped twice"
    ]


def test_the_faust_canonical_url_must_name_the_pod(manifests):
    env_entry(manifests, "NODE_CANONICAL_URL")["value"] = "http://0.0.0.0:6066"
    assert canonical_url_problems(worker(manifests)) == [
        f"{STATEFULSET}: {CONTAINER}.env: NODE_CANONICAL_URL is 'http://0.0.0.0:6066', not "
        "'http://$(POD_NAME).modwatch-worker-peers.$(POD_NAMESPACE).svc:6066'"
    ]
