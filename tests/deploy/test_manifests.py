"""Static checks of everything under deploy/: YAML, compose, Kubernetes, Redis, HAProxy, Dockerfile.

No Docker engine or Kubernetes cluster is needed. Where a real tool is on the machine
(`redis-server`, `haproxy`) or importable (`kubernetes_validate`), the files are also fed to it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from gateway.app import create_app
from gateway.policy.loader import load_policy_text
from gateway.settings import Settings
from tests.deploy.dockerfile import (
    DOCKERFILE,
    DOCKERIGNORE,
    env_values,
    exec_form,
    healthcheck_command,
    ignore_rules,
    is_ignored,
    parse_dockerfile,
)
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DEMO_KEY = "tg-demo-key"
DEFAULT_DRAIN_SECONDS = Settings.model_fields["drain_seconds"].default
IMAGE_UID = 10001

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")

Obj = dict[str, Any]


def load_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def seconds(duration: str | int | float) -> float:
    """Compose/Go durations: '40s', '1m30s', '500ms', or a bare number of seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    return sum(float(n) * scale[u] for n, u in parts)


def redis_binaries_or_skip(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not on PATH"
    if os.environ.get("TIERGATE_REQUIRE_REDIS") == "1":
        pytest.fail(f"{reason} (TIERGATE_REQUIRE_REDIS=1)")
    pytest.skip(reason)


def redis_conf_directives(path: Path) -> dict[str, str]:
    directives: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            directives[key.lower()] = value.strip()
    return directives


# -- every YAML file ------------------------------------------------------------------------------

YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_deploy_holds_the_expected_files() -> None:
    expected = {
        "compose.yaml",
        "docker/Dockerfile",
        "docker/Dockerfile.dockerignore",
        "k8s/README.md",
        "k8s/configmap.yaml",
        "k8s/deployment.yaml",
        "k8s/hpa.yaml",
        "k8s/kustomization.yaml",
        "k8s/pdb.yaml",
        "k8s/secret.yaml",
        "k8s/service.yaml",
        "k8s/worker.yaml",
        "lb/haproxy.cfg",
        "policy/compose.yaml",
        "prometheus/prometheus.yml",
        "redis/redis.conf",
    }
    present = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*") if p.is_file()}
    assert expected <= present


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses_to_mappings(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in documents)


# -- compose --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Obj:
    (document,) = load_documents(COMPOSE_FILE)
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: Obj) -> dict[str, Obj]:
    result: dict[str, Obj] = compose["services"]
    return result


def environment(service: Obj) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def gateway_services(services: dict[str, Obj]) -> dict[str, Obj]:
    """Services running the image's entrypoint (`tiergate serve`) with a budget store."""
    return {
        name: svc
        for name, svc in services.items()
        if "entrypoint" not in svc and "TIERGATE_STORE" in environment(svc)
    }


def simulator_services(services: dict[str, Obj]) -> dict[str, Obj]:
    return {
        name: svc
        for name, svc in services.items()
        if svc.get("entrypoint") == ["tiergate", "simulate"]
    }


def bind_mounts(service: Obj) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts (relative to compose.yaml)."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (COMPOSE_FILE.parent / source).resolve()
    return mounts


def simulator_args(service: Obj) -> Any:
    import argparse

    from gateway.simulator.__main__ import add_simulate_arguments

    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(service["command"])


def test_compose_services(services: dict[str, Obj]) -> None:
    assert set(services) == {
        "redis",
        "sim-efficient",
        "sim-flagship",
        "gateway-1",
        "gateway-2",
        "lb",
        "prometheus",
        "worker",
    }
    assert set(gateway_services(services)) == {"gateway-1", "gateway-2"}
    assert set(simulator_services(services)) == {"sim-efficient", "sim-flagship"}


def test_the_worker_shares_the_gateways_store_blobs_and_policy(services: dict[str, Obj]) -> None:
    worker = services["worker"]
    assert worker["entrypoint"][:2] == ["tiergate", "worker"]
    for name, gateway in gateway_services(services).items():
        assert environment(worker) == environment(gateway), name
        assert worker["volumes"] == gateway["volumes"], name
    assert environment(worker)["TIERGATE_BLOB_STORE"] == "file:///var/lib/tiergate/blobs"
    assert any(v.startswith("blobs:/var/lib/tiergate/blobs") for v in worker["volumes"])
    assert set(worker["depends_on"]) == {"redis", "sim-efficient", "sim-flagship"}
    port = worker["entrypoint"][worker["entrypoint"].index("--metrics-port") + 1]
    assert f"http://127.0.0.1:{port}/metrics" in worker["healthcheck"]["test"][-1]


def test_tiergate_services_build_the_image_from_the_repository(services: dict[str, Obj]) -> None:
    built = {**gateway_services(services), **simulator_services(services)}
    for name, svc in built.items():
        build = svc["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == REPO, name
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name
        assert svc["image"] == "tiergate:local", name


def test_every_service_has_a_healthcheck(services: dict[str, Obj]) -> None:
    for name, svc in services.items():
        check = svc.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout"):
            assert seconds(check[key]) > 0, name
        if test[:2] == ["CMD", "python"]:
            assert test[2] == "-c"
            compile(test[3], f"<healthcheck of {name}>", "exec")


def test_healthchecks_probe_the_port_each_service_listens_on(services: dict[str, Obj]) -> None:
    for name, svc in gateway_services(services).items():
        port = environment(svc)["TIERGATE_PORT"]
        assert f"http://127.0.0.1:{port}/readyz" in svc["healthcheck"]["test"][-1], name
    for name, svc in simulator_services(services).items():
        args = simulator_args(svc)
        assert f"http://127.0.0.1:{args.port}/healthz" in svc["healthcheck"]["test"][-1], name


def test_depends_on_waits_for_healthy_services(services: dict[str, Obj]) -> None:
    for name, svc in services.items():
        for dependency, condition in svc.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in services[dependency]
    for name in gateway_services(services):
        assert set(services[name]["depends_on"]) == {"redis", "sim-efficient", "sim-flagship"}
    assert set(services["lb"]["depends_on"]) == set(gateway_services(services))


def test_only_loopback_ports_are_published(services: dict[str, Obj]) -> None:
    published = {name: svc["ports"] for name, svc in services.items() if "ports" in svc}
    assert set(published) == {"lb", "prometheus"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert "127.0.0.1:8080:8080" in published["lb"]


def test_redis_is_durable_and_never_evicts(services: dict[str, Obj]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    mounts = bind_mounts(redis)
    conf_target = next(t for t, src in mounts.items() if src == DEPLOY / "redis" / "redis.conf")
    assert redis["command"] == ["redis-server", conf_target]
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])
    conf = redis_conf_directives(DEPLOY / "redis" / "redis.conf")
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["no-appendfsync-on-rewrite"] == "no"
    assert conf["stop-writes-on-bgsave-error"] == "yes"
    maxmemory_mb = int(conf["maxmemory"].removesuffix("mb"))
    limit = redis["deploy"]["resources"]["limits"]["memory"]
    assert maxmemory_mb < int(limit.removesuffix("M")), "maxmemory must stay below the limit"


def test_redis_conf_is_accepted_by_redis_server(tmp_path: Path) -> None:
    redis_binaries_or_skip("redis-server")
    import redis

    port = free_port()
    log = tmp_path / "redis.log"
    conf = DEPLOY / "redis" / "redis.conf"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "redis-server",
                str(conf),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(tmp_path),
                "--daemonize",
                "no",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = redis.Redis(port=port, socket_connect_timeout=0.5, decode_responses=True)
    try:
        for _ in range(100):
            assert proc.poll() is None, log.read_text()
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        config = {
            key: client.config_get(key)[key]
            for key in ("maxmemory-policy", "appendonly", "appendfsync", "aof-load-truncated")
        }
        assert config == {
            "maxmemory-policy": "noeviction",
            "appendonly": "yes",
            "appendfsync": "everysec",
            "aof-load-truncated": "yes",
        }
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_gateway_replicas_share_one_store_and_policy(services: dict[str, Obj]) -> None:
    gateways = gateway_services(services)
    assert len(gateways) >= 2
    stores = {environment(svc)["TIERGATE_STORE"] for svc in gateways.values()}
    assert len(stores) == 1, f"replicas disagree on the store: {stores}"
    store = urlsplit(stores.pop())
    assert store.scheme in ("redis", "rediss")
    assert store.hostname in services and services[store.hostname]["image"].startswith("redis:")
    policies = set()
    for name, svc in gateways.items():
        env = environment(svc)
        assert env["TIERGATE_HOST"] == "0.0.0.0", name
        policy_source = bind_mounts(svc)[env["TIERGATE_POLICY"]]
        policies.add(policy_source)
    assert policies == {DEPLOY / "policy" / "compose.yaml"}


def test_stop_grace_period_covers_the_drain(services: dict[str, Obj]) -> None:
    for name, svc in gateway_services(services).items():
        drain = float(environment(svc).get("TIERGATE_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
        assert seconds(svc["stop_grace_period"]) > drain, name
        assert seconds(services["lb"]["stop_grace_period"]) >= seconds(svc["stop_grace_period"])


def test_simulators_serve_the_tiers_of_the_compose_policy(services: dict[str, Obj]) -> None:
    policy = load_policy_text(
        (DEPLOY / "policy" / "compose.yaml").read_text(), source="compose policy", env={}
    )
    sims = {name: simulator_args(svc) for name, svc in simulator_services(services).items()}
    assert {args.profile for args in sims.values()} == set(policy.tiers)
    for name, args in sims.items():
        assert args.host == "0.0.0.0", name
        api_base = urlsplit(policy.tiers[args.profile].api_base or "")
        assert (api_base.hostname, api_base.port) == (name, args.port), args.profile
        assert str(args.port) in services[name]["expose"]
    demo_hashes = {key.sha256 for key in policy.teams["demo"].keys}
    assert hashlib.sha256(DEMO_KEY.encode()).hexdigest() in demo_hashes


def test_compose_policy_is_the_demo_policy_but_for_api_base() -> None:
    def without_api_base(text: str) -> Any:
        raw = yaml.safe_load(text)
        for tier in raw["tiers"].values():
            tier.pop("api_base")
        return raw

    demo = (REPO / "policies" / "default.yaml").read_text()
    compose_policy = (DEPLOY / "policy" / "compose.yaml").read_text()
    assert without_api_base(compose_policy) == without_api_base(demo)


def test_load_balancer_checks_and_routes_to_every_replica(services: dict[str, Obj]) -> None:
    lb = services["lb"]
    config_path = bind_mounts(lb)["/usr/local/etc/haproxy/haproxy.cfg"]
    assert config_path == DEPLOY / "lb" / "haproxy.cfg"
    config = config_path.read_text()
    servers = dict(re.findall(r"^\s*server\s+(\S+)\s+(\S+)", config, flags=re.M))
    for name, svc in gateway_services(services).items():
        assert servers.get(name) == f"{name}:{environment(svc)['TIERGATE_PORT']}"
    assert re.search(r"http-check send meth GET uri /readyz", config)
    assert re.search(r"^\s*bind :8080\s*$", config, flags=re.M)
    assert "/lb-healthz" in config and "/lb-healthz" in lb["healthcheck"]["test"][-1]


def test_haproxy_accepts_the_config() -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy not on PATH")
    result = subprocess.run(
        ["haproxy", "-c", "-f", str(DEPLOY / "lb" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_is_optional_and_scrapes_every_replica(services: dict[str, Obj]) -> None:
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    config_path = bind_mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    (config,) = load_documents(config_path)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "tiergate"]
    assert job["metrics_path"] == "/metrics"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    expected = {
        f"{name}:{environment(svc)['TIERGATE_PORT']}"
        for name, svc in gateway_services(services).items()
    }
    assert targets == expected


# -- Dockerfile -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[Any]:
    return parse_dockerfile(DOCKERFILE.read_text())


def runtime_stage(instructions: list[Any]) -> int:
    return int(max(i.stage for i in instructions))


def test_dockerfile_is_multi_stage_on_slim_python_311(dockerfile: list[Any]) -> None:
    froms = [i.args for i in dockerfile if i.keyword == "FROM"]
    assert len(froms) >= 2
    (base_arg,) = [i.args for i in dockerfile if i.keyword == "ARG" and i.stage == -1]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base_arg)
    assert froms[0] == "${PYTHON_IMAGE} AS builder"
    assert froms[-1].startswith("${PYTHON_IMAGE} AS ")


def test_dockerfile_installs_only_from_the_hash_pinned_lock(dockerfile: list[Any]) -> None:
    runs = [i.args for i in dockerfile if i.keyword == "RUN" and i.stage == 0]
    (lock_install,) = [r for r in runs if "-r requirements.lock" in r]
    for flag in ("--require-hashes", "--no-deps"):
        assert flag in lock_install
    (project_install,) = [r for r in runs if re.search(r"pip install --no-deps \.(\s|$)", r)]
    assert "--require-hashes" not in project_install  # the project itself has no hash
    copies = [i.args for i in dockerfile if i.keyword == "COPY" and i.stage == 0]
    assert copies[0] == "requirements.lock ./"  # the dependency layer caches on the lock alone


def test_dockerfile_runtime_stage(dockerfile: list[Any]) -> None:
    stage = runtime_stage(dockerfile)
    in_stage = [i for i in dockerfile if i.stage == stage]
    keywords = [i.keyword for i in in_stage]
    (user,) = [i.args for i in in_stage if i.keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert user == f"{IMAGE_UID}:{IMAGE_UID}"
    assert any(i.keyword == "RUN" and f"--uid {IMAGE_UID}" in i.args for i in in_stage), (
        "the runtime stage creates the user it switches to"
    )
    assert any(i.keyword == "COPY" and i.args.startswith("--from=builder ") for i in in_stage)
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert [i.args for i in in_stage if i.keyword == "EXPOSE"] == ["8080"]
    env = env_values(dockerfile, stage)
    assert env["TIERGATE_HOST"] == "0.0.0.0"
    assert env["TIERGATE_PORT"] == "8080"
    assert env["TIERGATE_POLICY"] == "/etc/tiergate/policy.yaml"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    (entrypoint,) = [exec_form(i.args) for i in in_stage if i.keyword == "ENTRYPOINT"]
    assert entrypoint == ["tiergate", "serve"]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'tiergate = "gateway.cli:main"' in pyproject


def test_dockerfile_healthcheck_asks_healthz_with_python(dockerfile: list[Any]) -> None:
    command = healthcheck_command(dockerfile, runtime_stage(dockerfile))
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2] and "curl" not in command[2]
    compile(command[2], "<HEALTHCHECK>", "exec")


def test_dockerfile_copies_exist_and_pass_the_ignore_file(dockerfile: list[Any]) -> None:
    rules = ignore_rules(DOCKERIGNORE.read_text())
    sources: list[str] = []
    for ins in dockerfile:
        if ins.keyword == "COPY" and not ins.args.startswith("--from="):
            sources += ins.args.split()[:-1]
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = str(file.relative_to(REPO))
            if "__pycache__" in relative or relative.endswith(".pyc"):
                continue
            assert not is_ignored(relative, rules), f"{relative} is copied but ignored"
    # The wheel needs these (pyproject: readme, force-include of the demo policy).
    for needed in ("README.md", "pyproject.toml", "policies/default.yaml", "gateway/cli.py"):
        assert not is_ignored(needed, rules), needed
    for junk in (
        ".venv/bin/python",
        "tests/conftest.py",
        ".git/HEAD",
        "bench/run.py",
        "gateway/__pycache__/app.cpython-311.pyc",
        "deploy/k8s/secret.yaml",
        ".env",
    ):
        assert is_ignored(junk, rules), junk


# -- Kubernetes -----------------------------------------------------------------------------------

EXPECTED_API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
}


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], Obj]:
    objects: dict[tuple[str, str], Obj] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"duplicate {key}"
            objects[key] = doc
    return objects


def one(k8s: dict[tuple[str, str], Obj], kind: str, component: str = "gateway") -> Obj:
    (obj,) = [
        o
        for (k, _), o in k8s.items()
        if k == kind and o["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return obj


def container(k8s: dict[tuple[str, str], Obj]) -> Obj:
    (c,) = one(k8s, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def test_the_worker_pod_runs_like_the_gateway_pod(k8s: dict[tuple[str, str], Obj]) -> None:
    gateway, worker = one(k8s, "Deployment"), one(k8s, "Deployment", "worker")
    (g,) = gateway["spec"]["template"]["spec"]["containers"]
    (w,) = worker["spec"]["template"]["spec"]["containers"]
    assert w["command"][:2] == ["tiergate", "worker"]
    for key in ("envFrom", "env", "volumeMounts", "securityContext", "image"):
        assert w[key] == g[key], key
    gspec, wspec = gateway["spec"]["template"]["spec"], worker["spec"]["template"]["spec"]
    assert wspec["volumes"] == gspec["volumes"]
    assert wspec["securityContext"] == gspec["securityContext"]
    port = int(w["command"][w["command"].index("--metrics-port") + 1])
    assert w["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    assert w["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    drain = int(settings_data(k8s)["TIERGATE_DRAIN_SECONDS"])
    assert wspec["terminationGracePeriodSeconds"] > drain
    assert (
        worker["spec"]["selector"]["matchLabels"]
        == worker["spec"]["template"]["metadata"]["labels"]
    )
    assert settings_data(k8s)["TIERGATE_BLOB_STORE"].startswith("s3://")


def settings_data(k8s: dict[tuple[str, str], Obj]) -> dict[str, str]:
    data: dict[str, str] = k8s[("ConfigMap", "tiergate-settings")]["data"]
    return data


def test_kinds_and_api_versions(k8s: dict[tuple[str, str], Obj]) -> None:
    kinds = sorted(kind for kind, _ in k8s)
    assert kinds == sorted(
        [
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "Deployment",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Secret",
            "Service",
        ]
    )
    for (kind, name), obj in k8s.items():
        assert obj["apiVersion"] == EXPECTED_API_VERSIONS[kind], f"{kind}/{name}"


def test_kustomization_lists_every_manifest_but_the_secret_template(
    k8s: dict[tuple[str, str], Obj],
) -> None:
    (kustomization,) = load_documents(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    resources = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert resources == files - {"secret.yaml"}
    image = container(k8s)["image"].split(":")[0]
    assert image in {i["name"] for i in kustomization["images"]}
    for entry in kustomization.get("labels", []):
        assert entry.get("includeSelectors") is False  # selectors are immutable


def test_selectors_and_labels_agree(k8s: dict[tuple[str, str], Obj]) -> None:
    deployment = one(k8s, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert one(k8s, "Service")["spec"]["selector"].items() <= pod_labels.items()
    assert one(k8s, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    for constraint in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == selector
    target = one(k8s, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )


def resolve_port(port: int | str, c: Obj) -> int:
    by_name = {p["name"]: p["containerPort"] for p in c["ports"]}
    if isinstance(port, str):
        assert port in by_name, f"no container port named {port}"
        return int(by_name[port])
    assert port in by_name.values(), f"no container port {port}"
    return port


def test_service_targets_the_port_the_gateway_listens_on(k8s: dict[tuple[str, str], Obj]) -> None:
    c = container(k8s)
    listen = int(settings_data(k8s)["TIERGATE_PORT"])
    for port in one(k8s, "Service")["spec"]["ports"]:
        assert resolve_port(port["targetPort"], c) == listen
    assert settings_data(k8s)["TIERGATE_HOST"] == "0.0.0.0"  # probes come from the pod IP


async def test_probe_paths_answer_on_the_app(k8s: dict[tuple[str, str], Obj]) -> None:
    c = container(k8s)
    listen = int(settings_data(k8s)["TIERGATE_PORT"])
    probes = {
        name: c[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert resolve_port(probe["port"], c) == listen
    # The paths exist and answer 200 on a fresh app (the memory store is always ready).
    # A stub backend: probes must not need litellm.
    app = create_app(Settings(store="memory://"), backend=object())  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            for probe in probes.values():
                response = await client.get(probe["path"])
                assert response.status_code == 200, (probe["path"], response.text)


def test_shutdown_outlasts_the_drain(k8s: dict[tuple[str, str], Obj]) -> None:
    pod = one(k8s, "Deployment")["spec"]["template"]["spec"]
    drain = float(settings_data(k8s).get("TIERGATE_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
    pre_stop = container(k8s)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    sleep_seconds = float(pre_stop[1])
    assert 0 < sleep_seconds <= 15
    assert pod["terminationGracePeriodSeconds"] == drain + 10
    assert pod["terminationGracePeriodSeconds"] > drain + sleep_seconds


def test_pod_runs_locked_down(k8s: dict[tuple[str, str], Obj]) -> None:
    pod = one(k8s, "Deployment")["spec"]["template"]["spec"]
    c = container(k8s)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID  # the Dockerfile's USER
    assert pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # A read-only root needs a writable /tmp (the image's WORKDIR and HOME).
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def quantity(value: str | int | float) -> float:
    text = str(value)
    units = {"m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, scale in units.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * scale
    return float(text)


def test_resources_have_requests_within_limits(k8s: dict[tuple[str, str], Obj]) -> None:
    resources = container(k8s)["resources"]
    for resource in ("cpu", "memory"):
        request = quantity(resources["requests"][resource])
        limit = quantity(resources["limits"][resource])
        assert 0 < request <= limit, resource


def test_replicas_autoscaling_and_disruption_budget(k8s: dict[tuple[str, str], Obj]) -> None:
    deployment = one(k8s, "Deployment")["spec"]
    hpa = one(k8s, "HorizontalPodAutoscaler")["spec"]
    pdb = one(k8s, "PodDisruptionBudget")["spec"]
    assert deployment["replicas"] == 3
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pdb["minAvailable"] == 2
    # A floor above minAvailable, or a node drain could never evict a pod.
    assert hpa["minReplicas"] >= deployment["replicas"] > pdb["minAvailable"]
    assert hpa["maxReplicas"] > hpa["minReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def pod_environment_names(k8s: dict[tuple[str, str], Obj]) -> set[str]:
    """Every variable the gateway container gets, checking each reference resolves."""
    c = container(k8s)
    names = {e["name"] for e in c.get("env", [])}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(k8s[("ConfigMap", source["configMapRef"]["name"])]["data"])
        if "secretRef" in source:
            names |= set(k8s[("Secret", source["secretRef"]["name"])]["stringData"])
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in k8s[("Secret", ref["name"])]["stringData"], e["name"]
    return names


def test_environment_references_resolve(k8s: dict[tuple[str, str], Obj]) -> None:
    names = pod_environment_names(k8s)
    store = next(e for e in container(k8s)["env"] if e["name"] == "TIERGATE_STORE")
    assert store["valueFrom"]["secretKeyRef"]["key"] == "REDIS_URL"
    assert "TIERGATE_POLICY" in names


def test_settings_configmap_holds_valid_settings(k8s: dict[tuple[str, str], Obj]) -> None:
    data = settings_data(k8s)
    fields = set(Settings.model_fields)
    values = {}
    for key, value in data.items():
        assert isinstance(value, str), f"{key}: ConfigMap values must be strings"
        if key.startswith("TIERGATE_"):
            name = key.removeprefix("TIERGATE_").lower()
            assert name in fields, f"{key} is not a tiergate setting"
            values[name] = value
    Settings(**values)


def test_policy_volume_lands_where_the_settings_point(k8s: dict[tuple[str, str], Obj]) -> None:
    pod = one(k8s, "Deployment")["spec"]["template"]["spec"]
    c = container(k8s)
    policy_path = Path(settings_data(k8s)["TIERGATE_POLICY"])
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(policy_path.parent))
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmap = k8s[("ConfigMap", volume["configMap"]["name"])]
    (item,) = volume["configMap"]["items"]
    assert item["path"] == policy_path.name
    assert item["key"] in configmap["data"]


def test_configmap_policy_validates_with_the_pod_environment(
    k8s: dict[tuple[str, str], Obj],
) -> None:
    text = k8s[("ConfigMap", "tiergate-policy")]["data"]["policy.yaml"]
    required = {name for name, default in _ENV_REF.findall(text) if not default}
    available = pod_environment_names(k8s)
    assert required <= available, f"policy needs {required - available} which the pod lacks"

    def placeholder(name: str) -> str:
        if name.endswith("_SHA256"):
            return hashlib.sha256(name.encode()).hexdigest()
        if name.endswith("_API_BASE"):
            return "https://example.invalid"
        return "placeholder"

    env = {name: placeholder(name) for name in available}
    env.update({k: v for k, v in settings_data(k8s).items() if "REPLACE_ME" not in v})
    policy = load_policy_text(text, source="configmap tiergate-policy", env=env)
    assert set(policy.tiers) == {"efficient", "flagship"}


def test_secret_holds_placeholders_only(k8s: dict[tuple[str, str], Obj]) -> None:
    secret = one(k8s, "Secret")
    assert "data" not in secret  # base64 would hide a real value from review
    assert secret["stringData"]
    for key, value in secret["stringData"].items():
        assert "REPLACE_ME" in value, f"{key} must stay a placeholder in the repository"
    store = urlsplit(secret["stringData"]["REDIS_URL"])
    assert store.scheme in ("rediss", "rediss+cluster"), "managed Redis: use TLS"


def k8s_documents() -> Iterator[tuple[str, Obj]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in load_documents(path):
                yield f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc


K8S_DOCUMENTS = list(k8s_documents())


@pytest.mark.parametrize(
    "document", [d for _, d in K8S_DOCUMENTS], ids=[w for w, _ in K8S_DOCUMENTS]
)
def test_kubernetes_schema(document: Obj) -> None:
    """Strict OpenAPI schema check with kubernetes-validate (bundled schemas, works offline)."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (a dev extra)"
    )
    kubernetes_validate.validate(document, "1.30.0", strict=True)
