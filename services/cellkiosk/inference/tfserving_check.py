"""Does a served SignatureDef match a model card? (The consumer asks at start, before taking jobs.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellkiosk.inference.model_card import ModelCard

DT_FLOAT = 1


def _dims(tensor_info: Any) -> list[int] | None:
    shape = tensor_info.tensor_shape
    return None if shape.unknown_rank else [d.size for d in shape.dim]


def _check_tensor(kind: str, key: str, info: Any, last_dim: int) -> str | None:
    if info.dtype != DT_FLOAT:
        return f"{kind} {key!r} has dtype {info.dtype}, not DT_FLOAT ({DT_FLOAT})"
    dims = _dims(info)
    if dims is None:
        return None
    if len(dims) != 4:
        return f"{kind} {key!r} has shape {dims}, not (batch, y, x, channels)"
    if dims[-1] not in (-1, last_dim):
        return f"{kind} {key!r} has {dims[-1]} channels, the card says {last_dim}"
    return None


def check_signature(card: ModelCard, signatures: Mapping[str, Any]) -> str | None:
    """What disagrees between ``card`` and the served ``{name: SignatureDef}``, in words; None if nothing."""
    name, io = card.outputs.signature, card.outputs
    if name not in signatures:
        return f"no signature {name!r} (it has {sorted(k for k in signatures if not k.startswith('__'))})"
    signature = signatures[name]
    if io.input_key not in signature.inputs:
        return f"signature {name!r} takes inputs {sorted(signature.inputs)}, not {io.input_key!r}"
    if io.output_key not in signature.outputs:
        return f"signature {name!r} returns {sorted(signature.outputs)}, not {io.output_key!r}"
    return _check_tensor("input", io.input_key, signature.inputs[io.input_key], card.n_channels) or _check_tensor(
        "output", io.output_key, signature.outputs[io.output_key], len(io.heads)
    )
