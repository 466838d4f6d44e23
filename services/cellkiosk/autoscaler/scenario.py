"""A workload and a cluster for the capacity simulator: every assumption is a field with its unit.

The consumer's CPU times come from our benchmark record when not given (its post-processing figure);
the GPU's time per megapixel is always given, since none was measured here.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cellkiosk.core.settings import ScaleTarget


class Workload(BaseModel):
    """The images: how many, how large, when they arrive."""

    model_config = ConfigDict(extra="forbid")

    images: int = Field(gt=0, description="Images submitted")
    image_mp: float = Field(1.0, gt=0, description="Megapixels an image")
    rate_per_s: float | None = Field(None, gt=0, description="Arrivals a second; unset = all at t = 0")
    size_window_mp: float = Field(
        0.2, ge=0, description="Network input of the object-size estimate an image (diameter auto); 0 = given"
    )


class ServiceTimes(BaseModel):
    """Seconds of work an image, on a consumer's CPU and on one TF Serving replica's GPU."""

    model_config = ConfigDict(extra="forbid")

    gpu_s_per_mp: float = Field(gt=0, description="GPU predict time per megapixel of network input, batched")
    consumer_pre_s: float = Field(0.1, ge=0, description="Download, decode, normalize, tile (CPU) an image")
    postprocess_s_per_mp: float | None = Field(
        None, gt=0, description="Deep watershed per megapixel; unset = the benchmark record's"
    )
    consumer_post_s: float = Field(0.1, ge=0, description="Measure, archive, upload (CPU) an image")


class NodePool(BaseModel):
    """A node pool the cluster autoscaler grows and shrinks."""

    model_config = ConfigDict(extra="forbid")

    price_per_h: float = Field(ge=0, description="US$ an hour a node, billed from request to removal")
    pods_per_node: int = Field(1, gt=0, description="Pods of the workload one node holds")
    node_start_s: float = Field(ge=0, description="From a pending pod to a Ready node")
    pod_start_s: float = Field(ge=0, description="From a Ready node to a Ready pod (image pull, model load)")
    max_nodes: int = Field(gt=0, description="Quota: nodes the pool can have")


class Cluster(BaseModel):
    """The two pools, what the cluster autoscaler does with empty nodes, and the always-on part."""

    model_config = ConfigDict(extra="forbid")

    cpu: NodePool = Field(description="Consumers")
    gpu: NodePool = Field(description="TF Serving, one replica a GPU")
    node_idle_remove_s: float = Field(600, ge=0, description="An empty node is removed after this (CA default)")
    base_price_per_h: float = Field(0.0, ge=0, description="Always-on nodes (gateway, Valkey, MinIO), US$/h")


class Scenario(BaseModel):
    """Everything the simulator assumes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    workload: Workload
    service: ServiceTimes
    cluster: Cluster
    consumers: ScaleTarget = Field(description="The policy of the consumer Deployment")
    tfserving: ScaleTarget = Field(description="The policy of the TF Serving Deployment")
    period_s: float = Field(15.0, gt=0, description="The autoscaler's period")
    notes: list[str] = Field(default_factory=list, description="Assumptions in words, copied into the record")


def load_scenario(path: Path) -> Scenario:
    """A scenario from a YAML or JSON file."""
    import yaml

    text = path.read_text()
    data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    return Scenario.model_validate(data)


def postprocess_from_benchmark(path: Path) -> float:
    """``postprocess_s_per_mp`` of a ``segmentation_speed`` benchmark record."""
    record = json.loads(path.read_text())
    return float(record["postprocess_s_per_mp"])
