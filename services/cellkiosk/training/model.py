"""A compact U-Net with deep-watershed heads (Keras 3)."""

from __future__ import annotations

from typing import Any

HEADS = ("foreground", "inner_distance")


def _conv_block(x: Any, filters: int, layers: Any) -> Any:
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    return x


def build_unet(in_channels: int = 1, base_filters: int = 16, depth: int = 4) -> Any:
    """Build a U-Net whose output stacks one sigmoid map per entry of ``HEADS``.

    Input (N, Y, X, in_channels) with Y and X multiples of ``2**depth``;
    output (N, Y, X, len(HEADS)) named ``heads``.
    """
    import keras
    from keras import layers

    inputs = keras.Input((None, None, in_channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2**level, layers)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = _conv_block(x, base_filters * 2**depth, layers)
    for level in reversed(range(depth)):
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = layers.Concatenate()([x, skips[level]])
        x = _conv_block(x, base_filters * 2**level, layers)
    outputs = layers.Conv2D(len(HEADS), 1, activation="sigmoid", name="heads")(x)
    return keras.Model(inputs, outputs, name="cellkiosk_unet")


def heads_loss(y_true: Any, y_pred: Any) -> Any:
    """BCE on the foreground plus 5x MSE on the inner distance.

    ``y_true`` is (..., 2): foreground, inner distance; or (..., 4) from ``training.targets``, whose
    channel 2 masks the BCE (0 where a sparse frame is unannotated) and channel 3 weighs the MSE
    (0 there too, more where nuclei touch).
    """
    from keras import ops

    eps = 1e-6
    fg_t, fg_p = y_true[..., 0], ops.clip(y_pred[..., 0], eps, 1 - eps)
    bce = -(fg_t * ops.log(fg_p) + (1 - fg_t) * ops.log(1 - fg_p))
    mse = ops.square(y_true[..., 1] - y_pred[..., 1])
    if y_true.shape[-1] == 4:
        bce, mse = bce * y_true[..., 2], mse * y_true[..., 3]
    return ops.mean(bce) + 5.0 * ops.mean(mse)


def load_saved_model_weights(model: Any, saved_model_dir: str) -> int:
    """Copy the weights of a SavedModel written by ``training.export`` into ``model`` (same architecture).

    Fine-tuning starts from a shipped model (e.g. ``models/nuclear/1``) this way when its Keras
    checkpoint is gone: the SavedModel's variables are keyed by layer index and attribute. Returns the
    number of variables copied; a shape mismatch raises ValueError.
    """
    import tensorflow as tf

    reader = tf.train.load_checkpoint(f"{saved_model_dir}/variables/variables")
    copied = 0
    for index, layer in enumerate(model.layers):
        for weight in layer.weights:
            attr = weight.path.rsplit("/", 1)[-1]
            key = f"net/_operations/{index}/{'_kernel' if attr == 'kernel' else attr}/.ATTRIBUTES/VARIABLE_VALUE"
            value = reader.get_tensor(key)
            if tuple(value.shape) != tuple(weight.shape):
                raise ValueError(f"{key}: shape {value.shape} in the SavedModel, {weight.shape} in the model")
            weight.assign(value)
            copied += 1
    return copied
