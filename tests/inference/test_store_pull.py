"""``cellkiosk pull-models``: a model store in a real S3 bucket (SeaweedFS) copied to a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellkiosk.core.storage_s3 import S3Storage
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.store_pull import pull_model_store
from tests.fixtures.platform import MODELS_DIR
from tests.fixtures.seaweed import S3Server, make_s3_storage


def upload_tree(storage: S3Storage, root: Path) -> int:
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        storage.put_file(path.relative_to(root).as_posix(), path)
    return len(files)


def test_the_pulled_store_lists_the_same_models(seaweed_s3: S3Server, s3_storage: S3Storage, tmp_path: Path) -> None:
    card_dir = MODELS_DIR / "nuclear" / "2"
    storage = make_s3_storage(seaweed_s3, s3_storage.bucket, prefix="models")
    count = upload_tree(storage, MODELS_DIR)  # the shipped store, SavedModels and all
    models = pull_model_store(storage, tmp_path / "store")
    assert "nuclear/1" in models and "nuclear/2" in models
    assert models == sorted(str(p.parent.relative_to(MODELS_DIR)) for p in MODELS_DIR.glob("*/*/model.yaml"))
    assert sum(1 for p in (tmp_path / "store").rglob("*") if p.is_file()) == count
    pulled, shipped = ModelStore(tmp_path / "store").cards(), ModelStore(MODELS_DIR).cards()
    assert [(c.name, c.version) for c in pulled] == [(c.name, c.version) for c in shipped]
    assert (tmp_path / "store/nuclear/2/model.yaml").read_bytes() == (card_dir / "model.yaml").read_bytes()


def test_a_bucket_without_cards_is_an_error(s3_storage: S3Storage, tmp_path: Path) -> None:
    s3_storage.put_bytes("notes/readme.txt", b"no models here")
    with pytest.raises(ValueError, match=r"no model.yaml at <name>/<version>/ in s3://.* \(1 objects\)"):
        pull_model_store(s3_storage, tmp_path / "store")
