"""A stand-in for TF Serving: its gRPC PredictionService (Predict, GetModelMetadata) over SavedModels.

Where the ``tensorflow_model_server`` binary cannot be had (tests; ``make compose-up STANDINS=1`` on a
machine that cannot pull ``tensorflow/serving``), this serves the same layout, the same protos and the
same status codes for what cellkiosk relies on: ``models.config`` (ModelServerConfig text proto) with
every version under ``<base_path>/<n>/``, ``max_batch_size`` refusals worded as TF Serving words them
("Task size 64 is larger than maximum input batch size 32"), RESOURCE_EXHAUSTED when its queue is full,
NOT_FOUND for an unknown model or version. It does not merge requests into batches and has no REST API.

    python -m cellkiosk.inference.prediction_server --port=8500 --model_config_file=/models/models.config \
        --enable_batching=true --batching_parameters_file=/models/batching_parameters.txt
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

log = logging.getLogger("cellkiosk.prediction_server")
MAX_MESSAGE_BYTES = 1 << 30


@dataclass(frozen=True)
class Limits:
    """The batching parameters the stand-in honours (None: unlimited, as TF Serving without batching)."""

    max_batch_size: int | None = None
    num_batch_threads: int = 4
    max_enqueued_batches: int = 64


def parse_batching(text: str) -> Limits:
    """The limits in a BatchingParameters text proto (``max_batch_size``, threads, queue length)."""
    values = {k: int(v) for k, v in re.findall(r"(\w+)\s*\{\s*value\s*:\s*(\d+)\s*\}", text)}
    return Limits(
        max_batch_size=values.get("max_batch_size", 1000),  # TF Serving's default
        num_batch_threads=values.get("num_batch_threads", 4),
        max_enqueued_batches=values.get("max_enqueued_batches", 64),
    )


def versions_on_disk(base_path: Path) -> dict[int, Path]:
    """``{version: folder}`` of the integer-named folders under ``base_path`` holding a saved_model.pb."""
    found = {int(p.name): p for p in base_path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()}
    if not found:
        raise SystemExit(f"no servable versions under {base_path} (expected {base_path}/<n>/saved_model.pb)")
    return found


def read_models_config(path: Path) -> dict[str, dict[int, Path]]:
    """``{name: {version: folder}}`` from a ModelServerConfig text proto (its version policy applied)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    served: dict[str, dict[int, Path]] = {}
    for entry in config.model_config_list.config:
        versions = versions_on_disk(Path(entry.base_path))
        policy = entry.model_version_policy.WhichOneof("policy_choice")
        if policy == "specific":
            wanted = set(entry.model_version_policy.specific.versions)
            versions = {v: p for v, p in versions.items() if v in wanted}
        elif policy != "all":  # latest (the default): the newest num_versions
            keep = max(entry.model_version_policy.latest.num_versions, 1)
            versions = {v: versions[v] for v in sorted(versions)[-keep:]}
        served[entry.name] = versions
    return served


def _saved_model_signatures(folder: Path) -> Any:
    """The SignatureDef map of a SavedModel's first MetaGraph, read from saved_model.pb as TF Serving does."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((folder / "saved_model.pb").read_bytes())
    return saved.meta_graphs[0].signature_def


def make_servicer(servables: dict[str, dict[int, Path]], limits: Limits) -> Any:
    """A PredictionServiceServicer over ``{name: {version: SavedModel folder}}``, every version loaded now."""
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def __init__(self) -> None:
            self.models = {
                name: {v: (tf.saved_model.load(str(p)), _saved_model_signatures(p)) for v, p in versions.items()}
                for name, versions in servables.items()
            }
            self.running = threading.BoundedSemaphore(limits.num_batch_threads)
            self.admitted = threading.BoundedSemaphore(limits.num_batch_threads + limits.max_enqueued_batches)

        def _servable(self, spec: Any, context: grpc.ServicerContext) -> tuple[int, Any, Any]:
            versions = self.models.get(spec.name, {})
            version = spec.version.value if spec.HasField("version") else max(versions, default=0)
            if version not in versions:
                wanted = f"Specific({spec.name}, {version})" if spec.HasField("version") else f"Latest({spec.name})"
                context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {wanted}")
            model, signatures = versions[version]
            return version, model, signatures

        def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:
            version, model, _ = self._servable(request.model_spec, context)
            signature = request.model_spec.signature_name or "serving_default"
            if signature not in model.signatures:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature name: "{signature}" not found')
            sizes = {proto.tensor_shape.dim[0].size for proto in request.inputs.values() if proto.tensor_shape.dim}
            task = max(sizes, default=0)
            if limits.max_batch_size is not None and task > limits.max_batch_size:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Task size {task} is larger than maximum input batch size {limits.max_batch_size}",
                )
            if not self.admitted.acquire(blocking=False):
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    "The batch scheduling queue to which this task was submitted is full",
                )
            try:
                with self.running:
                    try:
                        inputs = {key: tf.constant(tf.make_ndarray(p)) for key, p in request.inputs.items()}
                        outputs = model.signatures[signature](**inputs)
                    except (TypeError, ValueError, tf.errors.InvalidArgumentError) as err:
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            finally:
                self.admitted.release()
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(request.model_spec)
            response.model_spec.version.value = version
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

        def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
            version, _, signatures = self._servable(request.model_spec, context)
            if list(request.metadata_field) != ["signature_def"]:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is the only one served")
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = request.model_spec.name
            response.model_spec.version.value = version
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, value in signatures.items():
                signature_map.signature_def[key].CopyFrom(value)
            response.metadata["signature_def"].Pack(signature_map)
            return response

    return PredictionService()


def start_server(servables: dict[str, dict[int, Path]], limits: Limits, address: str) -> tuple[grpc.Server, int]:
    """Load the servables, serve them on ``address`` (``host:port``, port 0 = any free one); return server and port."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    servicer = make_servicer(servables, limits)
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    # Threads for the admitted requests plus a few to refuse the rest promptly.
    workers = limits.num_batch_threads + limits.max_enqueued_batches + 4
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port(address)
    server.start()
    return server, port


def _flag_bool(value: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """TF Serving's flags, the subset this stand-in honours; any other flag is an error."""
    p = argparse.ArgumentParser(prog="tensorflow_model_server (cellkiosk stand-in)", description=__doc__)
    p.add_argument("--port", type=int, default=8500, help="gRPC port")
    p.add_argument("--rest_api_port", type=int, default=0, help="accepted; the stand-in has no REST API")
    p.add_argument("--model_config_file", type=Path)
    p.add_argument("--model_name", default="default")
    p.add_argument("--model_base_path", type=Path)
    p.add_argument("--enable_batching", type=_flag_bool, default=False, nargs="?", const=True)
    p.add_argument("--batching_parameters_file", type=Path)
    args = p.parse_args(argv)
    if (args.model_config_file is None) == (args.model_base_path is None):
        p.error("give exactly one of --model_config_file and --model_base_path")
    return args


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse(argv)
    if args.model_config_file is not None:
        servables = read_models_config(args.model_config_file)
    else:
        newest = max(versions_on_disk(args.model_base_path).items())
        servables = {args.model_name: dict([newest])}
    limits = Limits()
    if args.enable_batching:
        text = args.batching_parameters_file.read_text() if args.batching_parameters_file else ""
        limits = parse_batching(text)
    server, port = start_server(servables, limits, f"0.0.0.0:{args.port}")
    served = {name: sorted(versions) for name, versions in servables.items()}
    log.info("Running gRPC ModelServer at 0.0.0.0:%d: %s, max_batch_size %s", port, served, limits.max_batch_size)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(5.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
