"""Properties of the rendered chart: RBAC, probes, security, NetworkPolicies, KEDA, settings, labels."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from cellkiosk.core.jobs import CONSUMER_GROUP, queue_key
from cellkiosk.core.settings import AutoscalerSettings, ConsumerSettings, GatewaySettings, ScaleTarget
from tests.helm.conftest import CHART, VALUES_FILES, HelmCheck, kinds, pod_specs

RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
               "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart")  # fmt: skip


def test_helm_check_passes(helm_check: HelmCheck) -> None:
    assert helm_check.returncode == 0, helm_check.output[-4000:]
    assert "passed" in helm_check.output
    for name in VALUES_FILES:
        assert helm_check.docs(name), f"{name} rendered nothing"


def by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in kinds(docs, kind)}


@pytest.mark.parametrize("values", VALUES_FILES)
def test_every_object_has_the_recommended_labels(helm_check: HelmCheck, values: str) -> None:
    for doc in helm_check.docs(values):
        labels = doc["metadata"].get("labels", {})
        missing = [k for k in RECOMMENDED if k not in labels]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == "cellkiosk"


@pytest.mark.parametrize("values", VALUES_FILES)
def test_every_container_has_probes_resources_and_no_privilege(helm_check: HelmCheck, values: str) -> None:
    for name, spec in pod_specs(helm_check.docs(values)):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        is_test = name.endswith("test-readyz")
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security.get("privileged", False) is False, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], where
        for container in spec["containers"]:
            if not is_test:
                assert "livenessProbe" in container and "readinessProbe" in container, f"{name}/{container['name']}"


def test_probes_are_wired_to_each_services_health_check(helm_check: HelmCheck) -> None:
    deployments = by_name(helm_check.docs("default"), "Deployment")

    def probes(name: str) -> dict[str, Any]:
        container = deployments[f"cellkiosk-{name}"]["spec"]["template"]["spec"]["containers"][0]
        return {k: container[k] for k in ("livenessProbe", "readinessProbe")}

    assert probes("gateway")["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes("gateway")["readinessProbe"]["httpGet"]["path"] == "/readyz"
    check = ["python3", "-m", "cellkiosk.consumer", "--check"]
    assert probes("consumer-segmentation")["livenessProbe"]["exec"]["command"] == check
    assert probes("tfserving")["readinessProbe"]["httpGet"]["path"] == "/v1/models/nuclear"
    statefulset = by_name(helm_check.docs("default"), "StatefulSet")["cellkiosk-valkey"]
    valkey = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert valkey["livenessProbe"]["exec"]["command"] == ["valkey-cli", "ping"]
    assert (
        "--appendonly" in valkey["command"] and valkey["command"][valkey["command"].index("--appendonly") + 1] == "yes"
    )
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


@pytest.mark.parametrize("values", ("default", "gpu-builtin"))
def test_the_autoscaler_may_only_get_and_patch_the_scale_of_its_own_deployments(
    helm_check: HelmCheck, values: str
) -> None:
    docs = helm_check.docs(values)
    assert not kinds(docs, "ClusterRole") and not kinds(docs, "ClusterRoleBinding")
    (role,) = kinds(docs, "Role")
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["apps"] and rule["resources"] == ["deployments/scale"]
    assert sorted(rule["verbs"]) == ["get", "patch"]
    deployments = by_name(docs, "Deployment")
    scaled = {n for n in deployments if "consumer-" in n or n.endswith("-tfserving")}
    assert set(rule["resourceNames"]) == scaled
    (binding,) = kinds(docs, "RoleBinding")
    autoscaler = deployments["cellkiosk-autoscaler"]["spec"]["template"]["spec"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": autoscaler["serviceAccountName"], "namespace": "lab"}
    ]
    tokens = [n for n, spec in pod_specs(docs) if spec.get("automountServiceAccountToken", True)]
    assert tokens == ["cellkiosk-autoscaler"]  # the one pod with an API token


def test_the_autoscaler_targets_are_valid_settings_for_the_real_deployments(helm_check: HelmCheck) -> None:
    docs = helm_check.docs("gpu-builtin")
    container = by_name(docs, "Deployment")["cellkiosk-autoscaler"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    targets = [ScaleTarget.model_validate(t) for t in json.loads(env["CELLKIOSK_TARGETS"])]
    assert {t.deployment for t in targets} <= set(by_name(docs, "Deployment"))
    tfserving = next(t for t in targets if t.deployment == "cellkiosk-tfserving")
    assert sorted(tfserving.queues) == ["segmentation", "tracking"]  # kept up while any consumer has work
    assert tfserving.min_replicas == 0 and tfserving.max_replicas == 20 and tfserving.idle_cooldown_s == 300
    assert container["command"] == ["python3", "-m", "cellkiosk.autoscaler"]
    AutoscalerSettings(targets=targets, redis_url="redis://x:6379/0", period_s=float(env["CELLKIOSK_PERIOD_S"]))


def test_keda_scales_every_consumer_and_tf_serving_from_the_consumer_group(helm_check: HelmCheck) -> None:
    docs = helm_check.docs("gpu-keda")
    assert not [d for d in kinds(docs, "Deployment") if d["metadata"]["name"].endswith("autoscaler")]
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in kinds(docs, "ScaledObject")}
    deployments = by_name(docs, "Deployment")
    assert set(scaled) == {n for n in deployments if "consumer-" in n or n.endswith("-tfserving")}
    for name, obj in scaled.items():
        spec = obj["spec"]
        assert spec["cooldownPeriod"] > 0 and spec["pollingInterval"] > 0, name
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert {"type": "Pods", "value": 1000, "periodSeconds": 15} in behavior["scaleUp"]["policies"]  # at once
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "redis-streams" and meta["consumerGroup"] == CONSUMER_GROUP, name
            assert meta["address"] == "cellkiosk-valkey.lab.svc:6379"
            assert ("lagCount" in meta and meta["activationLagCount"] == "0") or "pendingEntriesCount" in meta
        streams = {t["metadata"]["stream"] for t in spec["triggers"]}
        if name.endswith("-tfserving"):
            assert spec["minReplicaCount"] == 0  # GPU pods go to zero when idle
            assert streams == {queue_key("segmentation"), queue_key("tracking")}
        else:
            assert streams == {queue_key(name.removeprefix("cellkiosk-consumer-"))}
        assert len(spec["triggers"]) == 2 * len(streams)  # lag and pending entries of each stream
    policies = kinds(docs, "NetworkPolicy")
    valkey = next(p for p in policies if p["metadata"]["name"] == "cellkiosk-valkey")
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in valkey["spec"]["ingress"][
        0
    ]["from"]


@pytest.mark.parametrize("values", VALUES_FILES)
def test_network_policies_leave_only_the_gateway_open(helm_check: HelmCheck, values: str) -> None:
    docs = helm_check.docs(values)
    policies = by_name(docs, "NetworkPolicy")
    deny = policies["cellkiosk-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "cellkiosk",
        "app.kubernetes.io/instance": "cellkiosk",
    }
    open_to_all = [n for n, p in policies.items() if any("from" not in rule for rule in p["spec"].get("ingress", []))]
    minio_public = values == "gpu-builtin"  # its MinIO has an ingress: browsers fetch presigned results
    assert sorted(open_to_all) == sorted(["cellkiosk-gateway"] + (["cellkiosk-minio"] if minio_public else []))
    if "cellkiosk-valkey" in policies:
        (rule,) = policies["cellkiosk-valkey"]["spec"]["ingress"]
        assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
        assert rule["from"][0] == {"podSelector": {"matchLabels": deny["podSelector"]["matchLabels"]}}
    if "cellkiosk-tfserving" in policies:
        peers = [
            p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for p in policies["cellkiosk-tfserving"]["spec"]["ingress"][0]["from"]
        ]
        assert sorted(peers) == ["consumer-segmentation", "consumer-tracking"]
    for doc in docs:  # every pod of the release is under the default deny
        if doc["kind"] in ("Deployment", "StatefulSet", "Pod"):
            pod = doc["spec"]["template"] if doc["kind"] != "Pod" else doc
            labels = pod["metadata"]["labels"]
            assert all(labels.get(k) == v for k, v in deny["podSelector"]["matchLabels"].items()), doc["metadata"][
                "name"
            ]


def test_gpu_values_put_tf_serving_on_the_gpu_pool(helm_check: HelmCheck) -> None:
    for values in ("gpu-builtin", "gpu-keda"):
        tfserving = by_name(helm_check.docs(values), "Deployment")["cellkiosk-tfserving"]["spec"]["template"]["spec"]
        assert tfserving["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert tfserving["nodeSelector"] and tfserving["tolerations"][0]["key"] == "nvidia.com/gpu"
        assert [c["name"] for c in tfserving["initContainers"]][-1] == "export-tfserving"
    cpu = helm_check.docs("cpu-only")
    assert "cellkiosk-tfserving" not in by_name(cpu, "Deployment")
    default = by_name(helm_check.docs("default"), "Deployment")["cellkiosk-tfserving"]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in default["containers"][0]["resources"]["limits"]


def settings_names() -> set[str]:
    fields: set[str] = set()
    for cls in (GatewaySettings, ConsumerSettings, AutoscalerSettings):
        fields |= {f"CELLKIOSK_{name.upper()}" for name in cls.model_fields}
    return fields


@pytest.mark.parametrize("values", VALUES_FILES)
def test_settings_are_real_and_secrets_stay_out_of_the_configmap(helm_check: HelmCheck, values: str) -> None:
    docs = helm_check.docs(values)
    (config,) = kinds(docs, "ConfigMap")
    unknown = set(config["data"]) - settings_names()
    assert not unknown, f"the ConfigMap sets {unknown}, which no settings class reads"
    assert not [k for k in config["data"] if re.search("SECRET|PASSWORD|API_KEYS|ACCESS_KEY", k)]
    secrets = kinds(docs, "Secret")
    if values == "gpu-keda":  # secrets.existingSecret: the chart makes none and points every pod at it
        assert not secrets
        assert "secretRef: {name: cellkiosk-credentials}" in yaml.safe_dump(docs, default_flow_style=None)
    else:
        (secret,) = secrets
        assert "CELLKIOSK_SECRET_KEY" in secret["data"]


@pytest.mark.parametrize("values", VALUES_FILES)
def test_every_service_starts_from_the_configmap(
    helm_check: HelmCheck, values: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config,) = kinds(helm_check.docs(values), "ConfigMap")
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    gateway, consumer = GatewaySettings(), ConsumerSettings()  # a bad value raises, naming it
    assert gateway.max_upload_bytes == 2 * 1024**3 and gateway.job_ttl_s == 604800
    assert consumer.tfserving_give_up_s == (900 if "CELLKIOSK_TFSERVING_ADDRESS" in config["data"] else 600)
    autoscaler = next(
        (d for d in kinds(helm_check.docs(values), "Deployment") if d["metadata"]["name"].endswith("autoscaler")), None
    )
    if autoscaler is not None:
        for env in autoscaler["spec"]["template"]["spec"]["containers"][0]["env"]:
            if "value" in env:
                monkeypatch.setenv(env["name"], env["value"])
        assert AutoscalerSettings().targets


def test_values_hold_no_secret_by_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["secrets"] == {"existingSecret": "", "apiKeys": [], "adminApiKey": ""}
    text = (CHART / "values.yaml").read_text().lower()
    assert "password:" not in text and "secretkey" not in text and "accesskey" not in text


def test_ingress_has_tls_and_a_body_size_for_large_uploads(helm_check: HelmCheck) -> None:
    ingresses = by_name(helm_check.docs("gpu-builtin"), "Ingress")
    gateway = ingresses["cellkiosk-gateway"]
    assert gateway["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "2g"
    assert gateway["spec"]["tls"] == [{"hosts": ["cellkiosk.example.org"], "secretName": "cellkiosk-tls"}]
    assert gateway["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "cellkiosk-gateway"
    (config,) = kinds(helm_check.docs("gpu-builtin"), "ConfigMap")
    assert config["data"]["CELLKIOSK_S3_PUBLIC_ENDPOINT_URL"] == "https://s3.cellkiosk.example.org"
    assert not kinds(helm_check.docs("default"), "Ingress")


def test_disruption_budgets_and_the_helm_test(helm_check: HelmCheck) -> None:
    docs = helm_check.docs("default")
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for d in kinds(docs, "PodDisruptionBudget")
    }
    assert budgets == {"gateway", "consumer-segmentation", "consumer-tracking", "tfserving", "valkey", "minio"}
    (test_pod,) = kinds(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test_pod["spec"]["containers"][0]["command"][-1] == "http://cellkiosk-gateway:80/readyz"


def test_services_point_at_named_container_ports(helm_check: HelmCheck) -> None:
    for values in VALUES_FILES:
        docs = helm_check.docs(values)
        ports: dict[str, set[str]] = {}
        for d in docs:
            if d["kind"] in ("Deployment", "StatefulSet"):
                component = d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
                ports[component] = {
                    p["name"] for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
                }
        for service in kinds(docs, "Service"):
            component = service["spec"]["selector"]["app.kubernetes.io/component"]
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in ports[component], (values, service["metadata"]["name"], port)


def leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [p for key, value in node.items() for p in leaf_paths(value, f"{prefix}.{key}" if prefix else key)]
    return [prefix]


def test_the_chart_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # consumers.<type>.x is documented once; a Kubernetes object (resources, security context) as a whole
    paths = {re.sub(r"^consumers\.[a-z]+\.", "consumers.<type>.", p) for p in leaf_paths(values)}
    paths = {re.sub(r"((?:^|\.)(?:resources|initResources|podSecurityContext|containerSecurityContext))\..*$", r"\1", p)
             for p in paths}  # fmt: skip
    missing = sorted(p for p in paths if f"`{p}`" not in readme)
    assert not missing, f"helm/cellkiosk/README.md does not document {missing}"
