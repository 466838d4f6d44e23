"""The model store: a directory of ``<name>/<version>/`` model folders.

Adding a model is dropping a folder in; no code changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from cellkiosk.core.errors import BadInputError
from cellkiosk.inference.model_card import CARD_FILE, ModelCard

log = logging.getLogger(__name__)


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


class ModelStore:
    """Reads model cards from a local directory (re-scanned on every call, so always fresh; a card file
    is parsed again only when its modification time or size changed: parsing is ~30 ms a card)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._parsed: dict[Path, tuple[tuple[int, int], ModelCard]] = {}

    def _read(self, directory: Path) -> ModelCard:
        """The card in ``directory``, from the cache while its file is unchanged (a copy: callers may edit it)."""
        stat = (directory / CARD_FILE).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._parsed.get(directory)
        if cached is None or cached[0] != stamp:
            cached = (stamp, ModelCard.read(directory))
            self._parsed[directory] = cached
        return cached[1].model_copy(deep=True)

    def cards(self) -> list[ModelCard]:
        """The newest version of every model, sorted by name."""
        newest: dict[str, ModelCard] = {}
        for card_path in sorted(self.root.glob(f"*/*/{CARD_FILE}")):
            if any(part.startswith(".") for part in card_path.relative_to(self.root).parts):
                continue  # hidden: e.g. a model being exported
            try:
                card = self._read(card_path.parent)
            except (ValidationError, OSError, ValueError) as exc:
                log.warning("skipping bad model card", extra={"path": str(card_path), "error": str(exc)})
                continue
            best = newest.get(card.name)
            if best is None or _version_key(card.version) > _version_key(best.version):
                newest[card.name] = card
        return [newest[name] for name in sorted(newest)]

    def for_type(self, job_type: str) -> list[ModelCard]:
        """Models that run a job type."""
        return [c for c in self.cards() if c.job_type == job_type]

    def default_for(self, job_type: str) -> ModelCard | None:
        """The model used when a job names none: 'nuclear' if it fits, else the first."""
        cards = self.for_type(job_type)
        preferred = [c for c in cards if c.name == "nuclear"]
        ordered = preferred or cards
        return ordered[0] if ordered else None

    def get(self, name: str, job_type: str | None = None) -> ModelCard:
        """A model by name (``name`` or ``name:version``); BadInputError naming the choices if unknown."""
        base, _, version = name.partition(":")
        if version:
            path = self.root / base / version
            if (path / CARD_FILE).exists():
                return self._read(path)
        else:
            for card in self.cards():
                if card.name == base and (job_type is None or card.job_type == job_type):
                    return card
        known = ", ".join(c.name for c in (self.for_type(job_type) if job_type else self.cards())) or "none"
        raise BadInputError(f"unknown model '{name}'" + (f" for {job_type}" if job_type else "") + f"; known: {known}")
