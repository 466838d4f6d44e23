"""Lay a model store out for TF Serving: ``<name>/<version>/saved_model.pb``, ``models.config``, batching.

Every version of every model that has a SavedModel of its own is exported (a tracking card that runs
another model has none); TF Serving serves them all (``model_version_policy { all {} }``), so a job
that names an older version still finds it. Needs no TensorFlow.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cellkiosk.core.errors import BadInputError
from cellkiosk.inference.model_card import CARD_FILE, ModelCard

MODELS_CONFIG = "models.config"
BATCHING_FILE = "batching_parameters.txt"


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's ``--batching_parameters_file`` (a BatchingParameters text proto)."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 64
    num_batch_threads: int = 4
    # Requests of different shapes (tiles, small images) may land in one batch: pad them to the largest
    # (the predictor crops each answer back to its input's size) instead of failing both.
    pad_variable_length_inputs: bool = True

    def text(self) -> str:
        """The text proto."""
        lines = []
        for field, value in vars(self).items():
            if isinstance(value, bool):
                lines.append(f"{field}: {str(value).lower()}\n")
            else:
                lines.append(f"{field} {{ value: {value} }}\n")
        return "".join(lines)


def served_cards(models_dir: Path) -> list[ModelCard]:
    """Every version of every model in ``models_dir`` with its own SavedModel, sorted by name and version.

    Raises BadInputError naming the folder for a card that cannot be read, a version TF Serving cannot
    serve (it wants integers) or a card whose version is not its folder's name.
    """
    cards = []
    for card_path in sorted(models_dir.glob(f"*/*/{CARD_FILE}")):
        folder = card_path.parent
        if any(part.startswith(".") for part in folder.relative_to(models_dir).parts):
            continue  # hidden: a model being written
        try:
            card = ModelCard.read(folder)
        except (ValidationError, OSError, ValueError) as exc:
            raise BadInputError(f"cannot read the model card {card_path}: {exc}") from exc
        if card.segmentation_model is not None:
            continue  # runs another model; nothing to serve
        if not folder.name.isdigit() or card.version != folder.name:
            raise BadInputError(
                f"{folder}: TF Serving serves integer versions from folders named after them; "
                f"this folder is {folder.name!r} and its card says version {card.version!r}"
            )
        if not (card.saved_model_path / "saved_model.pb").is_file():
            raise BadInputError(f"{folder}: no saved_model/saved_model.pb")
        cards.append(card)
    return sorted(cards, key=lambda c: (c.served_name, int(c.version)))


def models_config(names: list[str], base_path: str) -> str:
    """A ModelServerConfig text proto serving every version under ``<base_path>/<name>``."""
    entries = "".join(
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{base_path.rstrip("/")}/{name}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { all {} }\n"
        "  }\n"
        for name in names
    )
    return "model_config_list {\n" + entries + "}\n"


def export_tfserving(
    models_dir: Path, out: Path, base_path: str | None = None, batching: BatchingParameters | None = None
) -> list[ModelCard]:
    """Write the TF Serving layout of ``models_dir`` into ``out`` (new or empty); return the exported cards.

    ``base_path`` is where ``out`` will be inside the server (``/models`` in the image; default: ``out``).
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInputError(f"{out} exists and is not an empty folder")
    cards = served_cards(models_dir)
    if not cards:
        raise BadInputError(f"no model with a SavedModel in {models_dir} (expected <name>/<version>/model.yaml)")
    out.mkdir(parents=True, exist_ok=True)
    for card in cards:
        shutil.copytree(card.saved_model_path, out / card.served_name / card.version)
    names = sorted({c.served_name for c in cards})
    (out / MODELS_CONFIG).write_text(models_config(names, base_path or str(out.resolve())))
    (out / BATCHING_FILE).write_text((batching or BatchingParameters()).text())
    return cards
