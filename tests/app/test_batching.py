"""collect_batch with a scripted queue and a fake clock: no threads, no sleeping."""

from __future__ import annotations

import queue

from app.batching import collect_batch


class ScriptedQueue:
    """Items that arrive at given fake times; waiting advances the fake clock."""

    def __init__(self, arrivals: list[tuple[float, str]]) -> None:
        self.now = 0.0
        self.pending = sorted(arrivals)
        self.waits: list[float | None] = []

    def clock(self) -> float:
        return self.now

    def empty(self) -> bool:
        return not self.pending or self.pending[0][0] > self.now

    def get(self, block: bool = True, timeout: float | None = None) -> str:
        self.waits.append(timeout if block else 0.0)
        if not self.empty():
            return self.pending.pop(0)[1]
        if not block or not self.pending:
            if block and timeout is not None:
                self.now += timeout
            raise queue.Empty
        arrival, item = self.pending[0]
        if timeout is not None and arrival > self.now + timeout:
            self.now += timeout
            raise queue.Empty
        self.now = arrival
        self.pending.pop(0)
        return item


def test_returns_nothing_when_no_item_arrives_in_time() -> None:
    source = ScriptedQueue([(5.0, "late")])
    assert collect_batch(source, 4, 0.01, first_timeout=1.0, clock=source.clock) == []
    assert source.now == 1.0


def test_lone_item_is_not_held_back() -> None:
    # Nothing else queued: the wait window is not used, even though an item comes later.
    source = ScriptedQueue([(0.0, "a"), (0.005, "b")])
    assert collect_batch(source, 4, 0.01, clock=source.clock) == ["a"]
    assert source.now == 0.0


def test_gathers_until_full() -> None:
    source = ScriptedQueue([(0.0, x) for x in "abcdef"])
    assert collect_batch(source, 4, 0.01, clock=source.clock) == ["a", "b", "c", "d"]
    assert collect_batch(source, 4, 0.01, clock=source.clock) == ["e", "f"]


def test_waits_for_late_items_until_the_deadline_only() -> None:
    arrivals = [(0.0, "a"), (0.0, "b"), (0.004, "c"), (0.009, "d"), (0.02, "e")]
    source = ScriptedQueue(arrivals)
    assert collect_batch(source, 8, 0.01, clock=source.clock) == ["a", "b", "c", "d"]
    assert source.now == 0.01  # gave up at the deadline, before "e" arrived
    assert collect_batch(source, 8, 0.01, clock=source.clock) == ["e"]


def test_takes_already_queued_items_after_the_deadline() -> None:
    source = ScriptedQueue([(0.0, "a"), (0.0, "b"), (0.0, "c")])
    source.now = 0.0
    assert collect_batch(source, 3, 0.0, clock=source.clock) == ["a", "b", "c"]


def test_works_with_a_real_queue() -> None:
    real: queue.Queue[int] = queue.Queue()
    for i in range(5):
        real.put(i)
    assert collect_batch(real, 3, 0.0) == [0, 1, 2]
    assert collect_batch(real, 3, 0.0) == [3, 4]
    assert collect_batch(real, 3, 0.0, first_timeout=0.0) == []
