"""Small pieces: Route 53 health semantics, the kubectl adapter, AWS error mapping, polling."""

from __future__ import annotations

import pytest

from scripts.errors import WaitTimeout
from scripts.polling import FakeClock, Verdict, poll_until


# -- polling ---------------------------------------------------------------------------------------
def test_poll_until_never_sleeps_past_the_deadline():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as info:
        poll_until(
            lambda: 1,
            lambda v: Verdict("wait", "still waiting", v),
            interval=7,
            timeout=20,
            clock=clock,
            what="the thing",
        )
    assert clock.sleeps == [7, 7, 6]
    assert info.value.message == "the thing not done after 20.0 s (timeout 20.0 s); last state: still waiting"
