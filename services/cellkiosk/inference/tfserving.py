"""A Predictor that calls TF Serving's gRPC PredictionService.

Busy or briefly unreachable servers slow a job down instead of failing it: every call has its own
deadline, and UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried with jittered
exponential backoff (tenacity). A job fails only when the server has not answered at all for
``give_up_s``, with a reason that names the address. Batches are split to the server's
``max_batch_size`` (configured, or learnt from its first "Task size N is larger than maximum input
batch size M" refusal).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import numpy as np
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential, wait_random

from cellkiosk.core.errors import UnavailableError
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.tfserving_check import check_signature

log = logging.getLogger(__name__)
T = TypeVar("T")
DT_FLOAT = 1  # tensorflow.core.framework.types_pb2.DT_FLOAT

# Worth a retry: the server is restarting, overloaded or slow.
TRANSIENT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
# An answer from a server that is up, only busy: it resets the give-up clock.
ALIVE_CODES = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED})
BATCH_LIMIT = re.compile(r"Task size (\d+) is larger than maximum input batch size (\d+)")


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


def _code(err: grpc.RpcError) -> grpc.StatusCode:
    return err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN


def _details(err: grpc.RpcError) -> str:
    return str(err.details()) if isinstance(err, grpc.Call) else str(err)


class _BatchTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"max batch size {limit}")
        self.limit = limit


class TFServingPredictor:
    """Runs models on a TF Serving server over one shared gRPC channel (thread-safe)."""

    def __init__(
        self,
        address: str,
        timeout_s: float = 60.0,
        give_up_s: float = 600.0,
        max_batch_size: int | None = None,
        pin_version: bool = False,
        backoff_max_s: float = 10.0,
        max_message_bytes: int = 1 << 30,
    ) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.give_up_s = give_up_s
        self.max_batch_size = max_batch_size
        self.pin_version = pin_version
        self.backoff_max_s = backoff_max_s
        self.max_message_bytes = max_message_bytes
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
                    # reconnect soon after a restarted server is back (gRPC's own backoff reaches 120 s)
                    ("grpc.initial_reconnect_backoff_ms", 500),
                    ("grpc.max_reconnect_backoff_ms", int(self.backoff_max_s * 1000)),
                ]
                self._channel = grpc.insecure_channel(self.address, options=options)
                self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
            return self._stub

    def _model_spec(self, spec: Any, card: ModelCard) -> None:
        spec.name = card.served_name
        if self.pin_version and card.version.isdigit():
            spec.version.value = int(card.version)

    def _describe(self, card: ModelCard) -> str:
        return f"model {card.served_name!r} version {card.version!r}"

    # -- retries ----------------------------------------------------------------
    def _call(self, card: ModelCard, rpc: Callable[[float], T]) -> T:
        """Run ``rpc(deadline_s)``, retrying transient failures until the server is silent for ``give_up_s``."""
        last_answer = time.monotonic()
        deadline_s = self.timeout_s
        last_error: list[grpc.RpcError] = []

        def attempt() -> T:
            nonlocal last_answer, deadline_s
            try:
                return rpc(deadline_s)
            except grpc.RpcError as err:
                code = _code(err)
                if code in ALIVE_CODES:
                    last_answer = time.monotonic()
                elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    deadline_s = min(deadline_s * 2, max(self.give_up_s, self.timeout_s))  # a slow server
                last_error[:] = [err]
                raise

        def silent_too_long(_: RetryCallState) -> bool:
            return time.monotonic() - last_answer >= self.give_up_s

        def before_sleep(state: RetryCallState) -> None:
            err = last_error[0]
            log.warning(
                "TF Serving busy or unreachable, retrying",
                extra={"address": self.address, "code": _code(err).name, "attempt": state.attempt_number},
            )

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, grpc.RpcError) and _code(e) in TRANSIENT_CODES),
            wait=wait_exponential(multiplier=0.2, max=self.backoff_max_s) + wait_random(0, 0.5),  # jittered
            stop=silent_too_long,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except grpc.RpcError as err:
            raise self._translate(err, card) from err

    def _translate(self, err: grpc.RpcError, card: ModelCard) -> Exception:
        code, details, model = _code(err), _details(err), self._describe(card)
        if code in TRANSIENT_CODES:
            return UnavailableError(
                f"TF Serving at {self.address} did not answer for {self.give_up_s:.0f} s ({code.name}: {details}) "
                f"while running {model}; check that the server is up and reachable from the consumer"
            )
        if code == grpc.StatusCode.NOT_FOUND:
            return RuntimeError(f"TF Serving at {self.address} does not serve {model}: {details}")
        if code == grpc.StatusCode.INVALID_ARGUMENT and (match := BATCH_LIMIT.search(details)):
            return _BatchTooLarge(int(match.group(2)))
        # INVALID_ARGUMENT and the rest: the model card and the served model disagree (an operator fix).
        return RuntimeError(f"TF Serving at {self.address} rejected the request for {model} ({code.name}): {details}")

    # -- predict ----------------------------------------------------------------
    def _predict_once(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        from tensorflow_serving.apis import predict_pb2

        stub = self._get_stub()
        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec, card)
        request.model_spec.signature_name = card.outputs.signature
        fill_tensor_proto(request.inputs[card.outputs.input_key], batch)
        response = self._call(card, lambda deadline_s: stub.Predict(request, timeout=deadline_s))
        if card.outputs.output_key not in response.outputs:
            found = sorted(response.outputs.keys())
            raise RuntimeError(
                f"model {card.served_name!r} on TF Serving at {self.address} returned outputs {found}, "
                f"not {card.outputs.output_key!r}: check the model card against the SavedModel signature"
            )
        heads = tensor_proto_to_array(response.outputs[card.outputs.output_key])
        # A batching server may pad requests of different sizes to the largest in its batch.
        return heads[: batch.shape[0], : batch.shape[1], : batch.shape[2]]

    def predict(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        """Send ``batch`` (N, Y, X, C), in parts of at most ``max_batch_size``; return the heads (N, Y, X, K)."""
        limit = self.max_batch_size or len(batch)
        parts = []
        for start in range(0, len(batch), max(limit, 1)):
            part = batch[start : start + limit]
            try:
                parts.append(self._predict_once(card, part))
            except _BatchTooLarge as too_large:
                if not 1 <= too_large.limit < len(part):  # splitting cannot help
                    raise RuntimeError(
                        f"TF Serving at {self.address} refused a batch of {len(part)}: {too_large}"
                    ) from too_large
                log.warning(
                    "TF Serving's max_batch_size is smaller than the batches sent; splitting from now on "
                    "(set CELLKIOSK_TFSERVING_MAX_BATCH_SIZE to it)",
                    extra={"address": self.address, "max_batch_size": too_large.limit, "sent": len(part)},
                )
                self.max_batch_size = too_large.limit
                parts.append(self.predict(card, part))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    # -- metadata -----------------------------------------------------------------
    def check_model(self, card: ModelCard) -> None:
        """Compare the served model's signature (inputs, shape, dtype, outputs) with ``card``; RuntimeError if not."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        stub = self._get_stub()
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._model_spec(request.model_spec, card)
        request.metadata_field.append("signature_def")
        try:
            response = self._call(card, lambda deadline_s: stub.GetModelMetadata(request, timeout=deadline_s))
        except _BatchTooLarge as exc:  # not a batch: an INVALID_ARGUMENT of another kind
            raise RuntimeError(f"TF Serving at {self.address} refused metadata of {self._describe(card)}") from exc
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        problem = check_signature(card, signatures.signature_def)
        if problem:
            raise RuntimeError(
                f"TF Serving at {self.address} serves {self._describe(card)} with another signature than its "
                f"model card says: {problem}. Re-export the model store (cellkiosk export-tfserving) and "
                "rebuild or restart TF Serving"
            )

    def close(self) -> None:
        """Close the gRPC channel; a later predict opens a new one."""
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._stub = None
