"""Export a trained Keras model as a TF SavedModel with a named serving signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cellkiosk.inference.model_card import SAVED_MODEL_DIR, ModelCard


def export_saved_model(model: Any, card: ModelCard, directory: Path) -> Path:
    """Write ``directory/saved_model`` (signature ``serving_default``: image -> heads) and ``model.yaml``.

    The signature takes ``image`` float32 (N, Y, X, C) with Y, X multiples
    of ``card.inputs.multiple_of`` and returns ``heads`` float32 (N, Y, X, K),
    so TF Serving and the in-process predictor read it the same way.
    """
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    spec = tf.TensorSpec([None, None, None, card.n_channels], tf.float32, name=card.outputs.input_key)

    class Serving(tf.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        @tf.function(input_signature=[spec])
        def serve(self, image: Any) -> dict[str, Any]:
            return {card.outputs.output_key: self.net(image, training=False)}

    module = Serving(model)
    tf.saved_model.save(module, str(directory / SAVED_MODEL_DIR), signatures={card.outputs.signature: module.serve})
    card.parameters = int(model.count_params())
    card.write(directory)
    card.path = directory
    return directory
