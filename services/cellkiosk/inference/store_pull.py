"""Copy a model store kept in a bucket (``<name>/<version>/...`` under a prefix) to a local folder.

The chart's init containers run it (``cellkiosk pull-models``) so the gateway, the consumers and
TF Serving read the same models from the bucket; adding a model there is adding a folder, as on disk.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cellkiosk.core.storage import Storage
from cellkiosk.inference.model_card import CARD_FILE

log = logging.getLogger(__name__)


def pull_model_store(storage: Storage, dest: Path) -> list[str]:
    """Download every object of ``storage`` into ``dest``; the ``name/version`` folders that have a card.

    Raises ValueError for a key that would land outside ``dest`` and when no model card was found.
    """
    root = dest.resolve()
    keys = storage.list("")
    for key in keys:
        path = (root / key).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"object {key!r} would be written outside {root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        storage.download_file(key, path)
    models = sorted(str(Path(k).parent) for k in keys if Path(k).name == CARD_FILE and len(Path(k).parts) == 3)
    if not models:
        raise ValueError(f"no {CARD_FILE} at <name>/<version>/ in {storage.url} ({len(keys)} objects)")
    log.info("model store pulled", extra={"objects": len(keys), "models": models, "dest": str(root)})
    return models
