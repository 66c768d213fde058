"""deploy/k8s/: every manifest validated offline against Kubernetes' own schemas (kubernetes-validate,
strict: no unknown fields), for the oldest and newest versions we support, and what matters for
running the platform: probes, resources, the GPU request, HPA and PDB targets that exist, the
Ingress's WebSocket timeouts, the same settings as docker-compose."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import ValidationError

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
VERSIONS = ["1.30", "1.37"]


def resources() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def containers(deployment: dict) -> dict[str, dict]:
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid(path: Path, version: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")


def test_the_validator_rejects_an_unknown_field() -> None:
    service = by_kind("Service")["web"]
    broken = {**service, "spec": {**service["spec"], "portz": service["spec"]["ports"]}}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_job() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    expected = {p.name for p in MANIFESTS} - {"migrate-job.yaml"}
    assert set(kustomization["resources"]) == expected


def test_the_expected_workloads_exist() -> None:
    assert set(by_kind("Deployment")) == {"web", "worker", "beat", "nlu", "vllm"}
    assert set(by_kind("Service")) == {"web", "nlu", "vllm"}
    assert set(by_kind("Job")) == {"migrate"}
    assert set(by_kind("HorizontalPodAutoscaler")) == {"web", "worker"}
    assert set(by_kind("PodDisruptionBudget")) == {"web", "worker", "nlu"}
    assert set(by_kind("Ingress")) == {"chatplatform"} and set(by_kind("ConfigMap")) == {"chatplatform-config"}


def test_every_long_running_container_has_probes_and_resources() -> None:
    for name, deployment in by_kind("Deployment").items():
        for container in containers(deployment).values():
            assert "livenessProbe" in container, name
            if name not in ("worker", "beat"):  # no Service in front of them: readiness would mean nothing
                assert "readinessProbe" in container, name
            assert container["resources"]["requests"] and container["resources"]["limits"], name


def test_selectors_match_their_pods() -> None:
    deployments = by_kind("Deployment")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(kind).items():
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            pods = deployments[name]["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pods.items(), f"{kind}/{name} selects no pod of its Deployment"
    for name, hpa in by_kind("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert hpa["spec"]["minReplicas"] >= 2, "a PDB of maxUnavailable 1 needs two replicas to mean anything"


def test_service_ports_name_container_ports() -> None:
    deployments = by_kind("Deployment")
    for name, service in by_kind("Service").items():
        ports = {p["name"] for c in containers(deployments[name]).values() for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service/{name} targets a port its pods do not name"


def test_vllm_requests_one_gpu_and_probes_its_health() -> None:
    vllm = containers(by_kind("Deployment")["vllm"])["vllm"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert vllm["resources"]["requests"]["nvidia.com/gpu"] == 1
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert vllm[probe]["httpGet"]["path"] == "/health", probe


def test_app_processes_run_as_in_compose() -> None:
    deployments = by_kind("Deployment")
    worker = containers(deployments["worker"])["worker"]
    assert worker["command"][worker["command"].index("--pool") + 1] == "threads"
    assert "inspect ping -d celery@$HOSTNAME" in " ".join(worker["livenessProbe"]["exec"]["command"])
    # Warm shutdown lets turns in flight finish: at least TURN_HARD_TIME_LIMIT (150 s).
    assert deployments["worker"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 150
    nlu = containers(deployments["nlu"])["nlu"]
    assert nlu["command"][-4:] == ["--host", "0.0.0.0", "--port", "8002"]
    assert nlu["readinessProbe"]["httpGet"]["path"] == "/healthz"
    web = containers(deployments["web"])["web"]
    assert web["command"][0] == "uvicorn" and "--proxy-headers" in web["command"]
    for name in ("web", "worker", "nlu"):
        spec = deployments[name]["spec"]["template"]["spec"]
        main = containers(deployments[name])[name]
        mount = next(m for m in main["volumeMounts"] if m["name"] == "prometheus")
        volume = next(v for v in spec["volumes"] if v["name"] == "prometheus")
        assert mount["mountPath"] == "/run/prometheus" and volume["emptyDir"]["medium"] == "Memory", name
        assert [c["command"] for c in spec["initContainers"]] == [["python", "manage.py", "migrate", "--check"]]


def test_one_beat_never_two() -> None:
    beat = by_kind("Deployment")["beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert containers(beat)["beat"]["command"][:4] == ["celery", "-A", "chatplatform", "beat"]


def test_config_matches_what_the_processes_read() -> None:
    config = by_kind("ConfigMap")["chatplatform-config"]["data"]
    assert config["PROMETHEUS_MULTIPROC_DIR"] == "/run/prometheus"
    assert config["NLU_SERVICE_URL"] == "http://nlu:8002"
    assert config["VLLM_BASE_URLS"].split(",")[0] == "http://vllm:8000/v1"
    # TLS ends at the Ingress: the platform's HTTPS hardening stays on, explicitly.
    assert config["SECURE_SSL_REDIRECT"] == "true"
    assert config["WORKER_CONCURRENCY"] == "200"
    secret = by_kind("Secret")["chatplatform-secrets"]["stringData"]
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"} <= set(secret)
    assert not set(config) & set(secret)


def test_ingress_keeps_websockets_open_and_terminates_tls() -> None:
    ingress = by_kind("Ingress")["chatplatform"]
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert ingress["spec"]["tls"][0]["secretName"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "web" and backend["port"]["name"] == "http"
