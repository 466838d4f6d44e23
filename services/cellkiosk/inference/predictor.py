"""Predictors: run a model on a batch, in-process TensorFlow or TF Serving over gRPC."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from cellkiosk.inference.model_card import ModelCard

log = logging.getLogger(__name__)

Precision = Literal["float32", "bfloat16"]
CPUINFO = Path("/proc/cpuinfo")


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo; None where it is absent."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def cpu_has_bf16() -> bool | None:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); None where /proc/cpuinfo is absent."""
    flags = _cpu_flags()
    return None if flags is None else bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_runs_bf16() -> bool | None:
    """Whether oneDNN's bfloat16 rewrite runs on this CPU at all: it needs AVX-512 (emulated, slower than
    float32) or native bfloat16; on an AVX2-only CPU TensorFlow leaves the graphs in float32. None where
    /proc/cpuinfo is absent."""
    flags = _cpu_flags()
    return None if flags is None else bool(flags & {"avx512f", "avx512_bf16", "amx_bf16"})


class Predictor(Protocol):
    """Anything that maps a batch (N, Y, X, C) float32 to the model's heads (N, Y, X, K)."""

    def predict(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        """Run the model named by ``card`` on ``batch``."""
        ...


class LocalPredictor:
    """Loads SavedModels with TensorFlow in this process, once per model version.

    ``precision="bfloat16"`` turns on oneDNN's automatic bfloat16 rewrite of the graphs TensorFlow runs
    (convolutions and matrix products in bfloat16, the rest float32). It is a setting of TensorFlow's
    graph optimizer, so it holds for the whole process, and it pays only on a CPU that computes
    bfloat16 natively (AVX512-BF16, AMX): other AVX-512 CPUs emulate it, slower than float32, and on an
    AVX2-only CPU TensorFlow does not apply it (the heads stay float32's; a warning says so). What it
    costs in accuracy and gains in speed here: ``benchmarks/precision.py``, README "Performance".
    """

    def __init__(self, precision: Precision = "float32") -> None:
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.precision = precision
        self._configured = False

    def _configure(self, tf: Any) -> None:
        """Apply the precision to this process's TensorFlow once, before the first model runs."""
        if self._configured:
            return
        self._configured = True
        if self.precision == "bfloat16":
            tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})
            if cpu_runs_bf16() is False:
                log.warning("precision bfloat16 asked, but this CPU has no AVX-512: the model runs in float32")
            elif cpu_has_bf16() is False:
                log.warning("precision bfloat16 on a CPU without native bfloat16: expect it slower than float32")
            log.info("in-process inference in bfloat16 (oneDNN auto mixed precision)")

    def _signature(self, card: ModelCard) -> Any:
        key = f"{card.name}:{card.version}:{card.path}"
        with self._lock:
            if key not in self._loaded:
                import tensorflow as tf  # the gateway never gets here

                self._configure(tf)
                model = tf.saved_model.load(str(card.saved_model_path))
                self._loaded[key] = (model, model.signatures[card.outputs.signature])
                log.info("model loaded", extra={"model": card.name, "version": card.version})
            return self._loaded[key][1]

    def predict(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        """Run the SavedModel's serving signature on ``batch``."""
        import tensorflow as tf

        fn = self._signature(card)
        out = fn(**{card.outputs.input_key: tf.constant(batch, dtype=tf.float32)})
        return np.asarray(out[card.outputs.output_key].numpy(), dtype=np.float32)
