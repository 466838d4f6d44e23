"""`cellkiosk up`'s supervisor on real short-lived processes: crashes are restarted with backoff, stops are not."""

from __future__ import annotations

import subprocess
import sys
import time

from hypothesis import given
from hypothesis import strategies as st

from cellkiosk.supervisor import Backoff, Supervised, Supervisor


def process(code: int, after_s: float = 0.0) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import sys, time; time.sleep({after_s}); sys.exit({code})"])


def test_a_crashing_process_is_restarted_with_growing_delays_and_a_stopped_one_is_not() -> None:
    crashing = Supervised("crashing", lambda: process(3), process(3), backoff=Backoff(first_s=0.2, max_s=0.8))
    stopped = Supervised("stopped", lambda: process(0), process(0))
    supervisor = Supervisor(None, [crashing, stopped], poll_s=0.05).start()
    try:
        time.sleep(3.0)
    finally:
        supervisor.stop()
    # delays 0.2, 0.4, 0.8, 0.8 … plus a Python start each: a handful of restarts in 3 s, not dozens
    assert 2 <= crashing.restarts <= 6, crashing.restarts
    assert stopped.restarts == 0
    for p in supervisor.processes():
        p.wait(10)


@given(st.lists(st.floats(min_value=0, max_value=200), min_size=1, max_size=30))
def test_backoff_doubles_up_to_its_cap_and_resets_after_a_healthy_run(runs: list[float]) -> None:
    backoff = Backoff(first_s=1.0, max_s=60.0, healthy_after_s=60.0)
    previous = 0.0
    for ran_for in runs:
        delay = backoff.next_delay_s(ran_for)
        assert 1.0 <= delay <= 60.0
        if ran_for >= 60.0:
            assert delay == 1.0
        elif previous:
            assert delay == min(60.0, previous * 2)
        previous = delay
