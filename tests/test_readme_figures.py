"""The README's tables are rendered from records produced by code: model cards and reliability test figures."""

from __future__ import annotations

from pathlib import Path

from benchmarks.card_tables import division_table, segmentation_table, tracking_table
from benchmarks.reliability_table import reliability_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quotes_the_nuclear_cards() -> None:
    table = segmentation_table()
    assert "`nuclear:" in table and table in README.read_text(), "run: python benchmarks/card_tables.py"


def test_readme_quotes_the_tracking_card() -> None:
    table = tracking_table()
    assert "TRA" in table and table in README.read_text(), "run: python benchmarks/card_tables.py"
    divisions = division_table()
    assert "not divided" in divisions and divisions in README.read_text(), "run: python benchmarks/card_tables.py"


def test_readme_quotes_the_performance_records() -> None:
    from benchmarks import perf_tables as t

    text = README.read_text()
    tables = (t.size_table(), t.error_kinds_table(), t.efficiency_table(), t.stage_table(), t.watershed_table(),
              t.viewer_table(), t.backends_table(), t.precision_table(), t.tiling_line(), t.test_fast_line(),
              t.gateway_table(), t.scale_table(), t.tracking_line())  # fmt: skip
    for table in tables:
        assert table in text, f"run: python -m benchmarks.perf_tables\n{table}"


def test_readme_quotes_the_reliability_records() -> None:
    table = reliability_table()
    assert table.count("\n") >= 9, "records missing: run the tests with CELLKIOSK_RECORD_RESULTS=1 (docs/security.md)"
    assert table in README.read_text(), "run: python benchmarks/reliability_table.py and paste it into the README"
