"""The capacity simulator: conservation, monotonicity in GPUs, and the figures it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cellkiosk.autoscaler.scenario import Scenario, load_scenario
from cellkiosk.autoscaler.simulate_cli import main as simulate_main
from cellkiosk.autoscaler.simulate_cli import sensitivity_table, summary_table, with_gpus
from cellkiosk.autoscaler.simulation import simulate

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "benchmarks" / "scenarios" / "million-1mp.yaml"


def scenario(images: int = 500, gpus: int = 2, rate: float | None = None, **service: float) -> Scenario:
    """A small cluster: the example's shape, fewer images and nodes, quick starts."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["name"] = "test"
    data["workload"].update(images=images, rate_per_s=rate)
    data["service"].update(postprocess_s_per_mp=0.15, **service)
    data["cluster"]["cpu"].update(max_nodes=3, node_start_s=30, pod_start_s=10)
    data["cluster"]["gpu"].update(max_nodes=gpus, node_start_s=60, pod_start_s=20)
    data["consumers"].update(max_replicas=20)
    data["tfserving"].update(max_replicas=gpus)
    return Scenario.model_validate(data)


small_scenarios = st.builds(
    scenario,
    images=st.integers(1, 1500),
    gpus=st.integers(1, 5),
    rate=st.one_of(st.none(), st.floats(0.5, 200)),
    gpu_s_per_mp=st.floats(0.01, 0.5),
    consumer_pre_s=st.floats(0.0, 0.5),
    consumer_post_s=st.floats(0.0, 0.5),
)


@settings(max_examples=40, deadline=None)
@given(small_scenarios)
def test_every_image_is_processed_exactly_once(s: Scenario) -> None:
    result = simulate(s, 0.15)
    assert len(result.processed) == s.workload.images
    assert set(result.processed) == {1}
    assert result.series[-1]["done"] == s.workload.images
    assert result.makespan_s < result.end_s


@settings(max_examples=40, deadline=None)
@given(small_scenarios, st.integers(1, 4))
def test_more_gpus_never_lengthen_the_makespan(s: Scenario, more: int) -> None:
    gpus = s.cluster.gpu.max_nodes
    fewer = simulate(s, 0.15)
    only_gpus = s.model_copy(
        update={
            "cluster": s.cluster.model_copy(
                update={"gpu": s.cluster.gpu.model_copy(update={"max_nodes": gpus + more})}
            ),
            "tfserving": s.tfserving.model_copy(update={"max_replicas": gpus + more}),
        }
    )
    for larger in (simulate(only_gpus, 0.15), simulate(with_gpus(s, gpus + more), 0.15)):  # consumers fixed, scaled
        assert larger.makespan_s <= fewer.makespan_s + 1e-9, (fewer.makespan_s, larger.makespan_s)


def test_the_cluster_scales_to_zero_after_the_work() -> None:
    result = simulate(scenario(images=2000, gpus=3), 0.15)
    last = result.series[-1]
    assert last["consumers"] == last["tfserving"] == last["gpu_nodes"] == last["cpu_nodes"] == 0
    assert result.peak["tfserving"] == 3 and result.peak["gpu_nodes"] == 3
    # the GPU nodes are billed from their request until empty for node_idle_remove_s
    assert 0 < result.gpu_utilisation < 1
    assert result.cost_by_pool_usd["gpu"] == pytest.approx(result.gpu_node_hours * 0.54)


def test_a_gpu_bound_makespan_is_what_the_gpus_can_do() -> None:
    s = scenario(images=3000, gpus=2, gpu_s_per_mp=0.5)  # 0.6 s an image on the GPU: the bottleneck
    result = simulate(s, 0.15)
    gpu_work_s = 3000 * 0.5 * 1.2 / 2
    first_gpu_ready_s = 60 + 20
    assert gpu_work_s + first_gpu_ready_s <= result.makespan_s <= gpu_work_s + first_gpu_ready_s + 60


def test_the_cli_writes_csv_png_and_a_record(tmp_path: Path) -> None:
    s = scenario(images=800)
    path = tmp_path / "s.json"
    path.write_text(s.model_dump_json())
    bench = tmp_path / "speed.json"
    bench.write_text(json.dumps({"postprocess_s_per_mp": 0.2}))
    s.service.postprocess_s_per_mp = None
    path.write_text(s.model_dump_json())
    assert (
        simulate_main(
            [
                str(path),
                "--benchmark",
                str(bench),
                "--out",
                str(tmp_path),
                "--plot-dir",
                str(tmp_path),
                "--sweep-gpus",
                "1",
                "4",
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "test.json").read_text())
    assert record["service_times_s"]["postprocess_source"] == str(bench)
    assert record["service_times_s"]["consumer_post_per_image"] == pytest.approx(0.2 + 0.1)
    assert record["results"]["images_processed_once"] == 800
    assert record["sweep_max_gpus"]["4"]["makespan_s"] <= record["sweep_max_gpus"]["1"]["makespan_s"]
    rows = list(csv.DictReader((tmp_path / "test.csv").open()))
    assert int(float(rows[-1]["done"])) == 800 and float(rows[0]["waiting"]) == 800
    assert (tmp_path / "test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_example_scenario_loads_and_states_its_assumptions() -> None:
    s = load_scenario(EXAMPLE)
    assert s.workload.images == 1_000_000 and s.workload.image_mp == 1.0
    assert s.service.postprocess_s_per_mp is None  # taken from the benchmark record
    assert len(s.notes) >= 5


def test_the_committed_record_is_what_the_simulator_wrote() -> None:
    record = json.loads((REPO / "benchmarks" / "results" / "million-1mp.json").read_text())
    assert record["scenario"] == load_scenario(EXAMPLE).model_dump(mode="json")  # the file was not edited since
    speed = json.loads((REPO / "benchmarks" / "results" / "segmentation_speed.json").read_text())
    assert record["service_times_s"]["postprocess_s_per_mp"] == speed["postprocess_s_per_mp"]
    assert record["results"]["images_processed_once"] == 1_000_000
    assert (REPO / "docs" / "capacity" / "million-1mp.png").exists()


def test_the_readme_quotes_the_record() -> None:
    record = json.loads((REPO / "benchmarks" / "results" / "million-1mp.json").read_text())
    readme = (REPO / "README.md").read_text()
    for table in (summary_table(record), sensitivity_table(record)):
        assert table in readme, "README: paste the tables `make simulate` prints (summary_table, sensitivity_table)"
