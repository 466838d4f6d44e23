"""A Predictor that calls TF Serving's gRPC PredictionService."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import numpy as np

from cellkiosk.core.errors import TransientError
from cellkiosk.inference.model_card import ModelCard

DT_FLOAT = 1  # tensorflow.core.framework.types_pb2.DT_FLOAT

# Worth a retry: the server is restarting, overloaded or slow.
TRANSIENT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


def fill_tensor_proto(proto: Any, array: np.ndarray) -> None:
    """Write ``array`` into a TensorProto as DT_FLOAT with raw little-endian ``tensor_content``."""
    data = np.ascontiguousarray(array, dtype="<f4")
    proto.dtype = DT_FLOAT
    for size in data.shape:
        proto.tensor_shape.dim.add(size=size)
    proto.tensor_content = data.tobytes()


def tensor_proto_to_array(proto: Any) -> np.ndarray:
    """Read a DT_FLOAT TensorProto (``tensor_content`` or ``float_val``) into a float32 array."""
    if proto.dtype != DT_FLOAT:
        raise RuntimeError(f"TF Serving returned dtype {proto.dtype}, expected DT_FLOAT ({DT_FLOAT})")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype="<f4").astype(np.float32).reshape(shape)
    values = np.asarray(proto.float_val, dtype=np.float32)
    if values.size == 1 and int(np.prod(shape)) != 1:
        return np.full(shape, values[0], dtype=np.float32)  # TF's compact form for a repeated value
    return values.reshape(shape)


class TFServingPredictor:
    """Runs models on a TF Serving server over one shared gRPC channel (thread-safe)."""

    def __init__(
        self,
        address: str,
        timeout_s: float = 60.0,
        max_message_bytes: int = 1 << 30,
        pin_version: bool = False,
    ) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self.pin_version = pin_version
        self._channel: grpc.Channel | None = None
        self._stub: Any = None
        self._lock = threading.Lock()

    def _get_stub(self) -> Any:
        with self._lock:
            if self._stub is None:
                # The serving protos import the tensorflow package: keep that out of import time.
                from tensorflow_serving.apis import prediction_service_pb2_grpc

                options = [
                    ("grpc.max_send_message_length", self.max_message_bytes),
                    ("grpc.max_receive_message_length", self.max_message_bytes),
                ]
                self._channel = grpc.insecure_channel(self.address, options=options)
                self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
            return self._stub

    def _request(self, card: ModelCard, batch: np.ndarray) -> Any:
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = card.served_name
        request.model_spec.signature_name = card.outputs.signature
        if self.pin_version and card.version.isdigit():
            request.model_spec.version.value = int(card.version)
        fill_tensor_proto(request.inputs[card.outputs.input_key], batch)
        return request

    def predict(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        """Send ``batch`` (N, Y, X, C) to the served model and return its heads (N, Y, X, K) as float32."""
        stub = self._get_stub()
        request = self._request(card, batch)
        try:
            response = stub.Predict(request, timeout=self.timeout_s)
        except grpc.RpcError as err:
            raise self._translate(err, card) from err
        if card.outputs.output_key not in response.outputs:
            found = sorted(response.outputs.keys())
            raise RuntimeError(
                f"model {card.served_name!r} on TF Serving at {self.address} returned outputs {found}, "
                f"not {card.outputs.output_key!r}: check the model card against the SavedModel signature"
            )
        return tensor_proto_to_array(response.outputs[card.outputs.output_key])

    def _translate(self, err: grpc.RpcError, card: ModelCard) -> Exception:
        code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = err.details() if isinstance(err, grpc.Call) else str(err)
        model = f"model {card.served_name!r} version {card.version!r}"
        if code in TRANSIENT_CODES:
            return TransientError(f"TF Serving at {self.address} {code.name} for {model}: {details}")
        if code == grpc.StatusCode.NOT_FOUND:
            return RuntimeError(f"TF Serving at {self.address} does not serve {model}: {details}")
        # INVALID_ARGUMENT and the rest: the model card and the served model disagree (an operator fix).
        return RuntimeError(f"TF Serving at {self.address} rejected the request for {model} ({code.name}): {details}")

    def close(self) -> None:
        """Close the gRPC channel; a later predict opens a new one."""
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._stub = None
