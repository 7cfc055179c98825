"""Deployment files: Kubernetes manifests against the official schemas (kubernetes-validate ships them,
no network), docker-compose against a minimal schema written here (the compose spec would need a
download), and consistency with the code: ports, probes, environment names, metric names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from aimds.server.app import ROUTES
from aimds.server.settings import ServerSettings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))

COMPOSE_SCHEMA = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "name": {"type": "string"},
        "services": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
                "properties": {
                    "image": {"type": "string"},
                    "build": {"type": "object", "required": ["context"]},
                    "command": {"type": "array", "items": {"type": "string"}},
                    "environment": {"type": "object", "additionalProperties": {"type": "string"}},
                    "ports": {"type": "array", "items": {"type": "string", "pattern": r"^\d+:\d+$"}},
                    "volumes": {"type": "array", "items": {"type": "string"}},
                    "depends_on": {"type": ["array", "object"]},
                    "healthcheck": {"type": "object", "required": ["test"]},
                    "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
                    "deploy": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
        "volumes": {"type": "object"},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifests_match_the_schemas(path: Path) -> None:
    import kubernetes_validate
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_kubernetes_set_is_complete_and_consistent() -> None:
    docs = {d["kind"]: d for p in K8S for d in yaml.safe_load_all(p.read_text())}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Secret"} <= set(docs)
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    paths = {path for _, path, *_ in ROUTES}
    assert container["readinessProbe"]["httpGet"]["path"] in paths
    assert container["livenessProbe"]["httpGet"]["path"] in paths
    assert container["ports"][0]["containerPort"] == ServerSettings().port
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    config = yaml.safe_load(docs["ConfigMap"]["data"]["aimds.yaml"])
    ServerSettings(**config["server"])  # every server key there is a real, valid setting
    assert set(config["server"]) <= set(ServerSettings.model_fields)
    for name in docs["Secret"]["stringData"]:
        assert name.removeprefix("AIMDS_").lower() in ServerSettings.model_fields


def test_compose_file_is_valid_and_matches_the_code() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    jsonschema.validate(compose, COMPOSE_SCHEMA)
    assert {"aimds", "redis", "prometheus", "grafana"} <= set(compose["services"])
    for name in compose["services"]["aimds"]["environment"]:
        assert name.removeprefix("AIMDS_").lower() in ServerSettings.model_fields
    for volume in compose["services"]["prometheus"]["volumes"] + compose["services"]["grafana"]["volumes"]:
        assert (DEPLOY / volume.split(":")[0]).resolve().exists(), volume
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "EXPOSE 8080" in dockerfile and '".[server]"' in dockerfile


def test_dashboard_and_prometheus_use_real_metric_names() -> None:
    from aimds.server.metrics import Metrics

    exported = {m.name for m in Metrics().registry.collect()}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "aimds.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 8
    for expr in exprs:
        for name in re.findall(r"aimds_[a-z_]+", expr):
            base = re.sub(r"_(total|bucket|count|sum)$", "", name)
            assert base in exported, name
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["aimds:8080"]
