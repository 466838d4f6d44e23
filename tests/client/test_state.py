"""The resume state survives interruption: saved atomically, reloaded, unreadable files set aside."""

from __future__ import annotations

import json
from pathlib import Path

from cellkiosk.client.state import STATE_NAME, Entry, RunState, sha256_file, spec_fingerprint


def test_entries_round_trip_and_the_file_is_always_whole(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    spec = spec_fingerprint("segmentation", None, {"channels": [0]})
    state.put("aa", Entry("x/1.png", spec, "done", job_id="j1", outputs=["x/1"], cells=3, seconds=1.5))
    state.put("bb", Entry("x/2.png", spec, "queued", job_id="j2"))
    assert [p.name for p in tmp_path.iterdir()] == [STATE_NAME]  # no temporary file left behind
    again = RunState(tmp_path)
    assert again.get("aa") == state.get("aa") and again.get("bb").job_id == "j2"
    again.forget("bb")
    assert set(json.loads((tmp_path / STATE_NAME).read_text())["files"]) == {"aa"}


def test_unreadable_state_is_set_aside_not_trusted(tmp_path: Path) -> None:
    (tmp_path / STATE_NAME).write_text('{"version": 1, "files": {"aa": {"fi')
    state = RunState(tmp_path)
    assert state.entries == {} and "unreadable" in (state.warning or "")
    assert (tmp_path / f"{STATE_NAME}.unreadable").exists()


def test_spec_and_hash(tmp_path: Path) -> None:
    assert spec_fingerprint("segmentation", None, {"a": 1, "b": 2}) == spec_fingerprint(
        "segmentation", None, {"b": 2, "a": 1}
    )
    assert spec_fingerprint("segmentation", None, {}) != spec_fingerprint("segmentation", "nuclear", {})
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
