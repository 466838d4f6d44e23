"""Raw model throughput per predictor backend: TensorFlow, ONNX Runtime, OpenVINO, batches of 1-8 tiles.

Each backend runs in a process of its own (one library's thread pool must not slow another), twice (in
order, then reversed; the faster pass counts, as the machine is shared), on the same batches:
512 x 512 tiles of the normalized DSB2018 val mosaic (``segmentation_speed.mosaic``), float32.
Seconds per megapixel are the median of ``--repeats`` calls after a warm-up call; the largest
absolute difference from TensorFlow's output on the same batch is recorded per backend (the
issue's bar for a default: at most 1e-4).
The ONNX file is exported once by tf2onnx (``--onnx``); ONNX Runtime and OpenVINO both run it.
Usage: ``python -m benchmarks.backends [--repeats 5]``; writes ``benchmarks/results/backends.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
BATCHES = (1, 2, 4, 8)
TILE = 512


def tiles(n: int) -> np.ndarray:
    """``n`` normalized 512 x 512 tiles of the val mosaic, (n, 512, 512, 1) float32."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from segmentation_speed import mosaic

    from cellkiosk.imaging.normalize import normalize_percentile

    image = normalize_percentile(mosaic(TILE * 3))
    spots = [(y, x) for y in range(3) for x in range(3)]
    return np.stack([image[y * TILE : (y + 1) * TILE, x * TILE : (x + 1) * TILE] for y, x in spots[:n]] * 2)[:n]


def installed_mb(package: str) -> float | None:
    """Disk size of an installed package's folder, in MB (what a consumer image carries for it)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return round(sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6, 1)


def runner(backend: str, model_dir: Path, onnx: Path) -> Any:
    """A function batch -> heads for one backend."""
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.saved_model.load(str(model_dir / "saved_model")).signatures["serving_default"]
        return lambda x: fn(image=tf.constant(x))["heads"].numpy()
    if backend == "onnxruntime":
        import onnxruntime as ort

        session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    if backend == "openvino":  # from the ONNX export: its SavedModel reader fails on VarHandleOp here
        import openvino as ov

        compiled = ov.Core().compile_model(str(onnx), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return lambda x: compiled(x)[0]
    raise ValueError(backend)


def child(backend: str, model_dir: Path, onnx: Path, repeats: int, out: Path) -> None:
    """In a process of its own: time each batch size, save outputs of the largest batch."""
    fn = runner(backend, model_dir, onnx)
    batch = tiles(max(BATCHES))
    result: dict[str, Any] = {}
    for n in BATCHES:
        x = np.ascontiguousarray(batch[:n])
        fn(x)  # warm-up: kernels for this shape
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
        result[str(n)] = round(statistics.median(times) / (n * TILE * TILE / 1e6), 4)
    np.save(out.with_suffix(".npy"), np.asarray(fn(batch), dtype=np.float32))
    out.write_text(json.dumps(result))


def main() -> None:
    """Export ONNX if needed, run each backend in its own process, compare outputs with TensorFlow."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--model", type=Path, help="model folder (default: the default segmentation model's)")
    p.add_argument("--onnx", type=Path, default=None, help="ONNX export of the model (default: exported now)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS / "backends.json")
    args = p.parse_args()
    if args.model is None:
        from cellkiosk.inference.store import ModelStore

        card = ModelStore(REPO / "models").default_for("segmentation")
        assert card is not None and card.path is not None
        args.model = card.path
    if args.child:
        child(args.child[0], args.model, args.onnx, args.repeats, Path(args.child[1]))
        return
    from benchmarks.records import record_head
    from benchmarks.report import emit

    tmp = Path(tempfile.mkdtemp(prefix="cellkiosk-backends-"))
    onnx = args.onnx or tmp / "model.onnx"
    if not onnx.exists():
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(args.model / "saved_model"),
                        "--signature_def", "serving_default", "--opset", "17", "--output", str(onnx)],
                       check=True, capture_output=True)  # fmt: skip
    load = round(os.getloadavg()[0], 2)
    per_backend: dict[str, Any] = {}
    order = ("tensorflow", "onnxruntime", "openvino")
    for backend in order + order[::-1]:  # twice, the second time reversed: a load spike hits one pass
        out = tmp / f"{backend}.json"
        cmd = [sys.executable, "-m", "benchmarks.backends", "--child", backend, str(out), "--model", str(args.model),
               "--onnx", str(onnx), "--repeats", str(args.repeats)]  # fmt: skip
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode:
            per_backend[backend] = {"error": done.stderr.strip().splitlines()[-1:]}
            continue
        times = json.loads(out.read_text())
        row = per_backend.setdefault(backend, {"s_per_mp_by_batch": times})
        if "s_per_mp_by_batch" in row:  # the faster of the two passes
            row["s_per_mp_by_batch"] = {n: min(t, row["s_per_mp_by_batch"][n]) for n, t in times.items()}
    reference = np.load(tmp / "tensorflow.npy")
    for backend, row in per_backend.items():
        if "error" not in row:
            row["max_abs_diff_vs_tf"] = float(np.abs(np.load(tmp / f"{backend}.npy") - reference).max())
    record = {
        **record_head("backends", "python -m benchmarks.backends", load),
        "model": str(args.model.relative_to(REPO)),
        "tile_px": TILE,
        "precision": "float32",
        "backends": per_backend,
        "installed_mb": {name: installed_mb(name) for name in ("tensorflow", "onnxruntime", "openvino")},
    }
    emit(record, args.out)


if __name__ == "__main__":
    main()
