"""Predictors: run a model on a batch, in-process TensorFlow or TF Serving over gRPC."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import numpy as np

from cellkiosk.inference.model_card import ModelCard

log = logging.getLogger(__name__)


class Predictor(Protocol):
    """Anything that maps a batch (N, Y, X, C) float32 to the model's heads (N, Y, X, K)."""

    def predict(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        """Run the model named by ``card`` on ``batch``."""
        ...


class LocalPredictor:
    """Loads SavedModels with TensorFlow in this process, once per model version."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _signature(self, card: ModelCard) -> Any:
        key = f"{card.name}:{card.version}:{card.path}"
        with self._lock:
            if key not in self._loaded:
                import tensorflow as tf  # the gateway never gets here

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
