"""Batch collection: wait for the first item, then gather until full or the deadline passes."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class BatchSource(Protocol[T_co]):
    """The part of queue.Queue that collection needs (a fake clock's queue provides it too)."""

    def get(self, block: bool = True, timeout: float | None = None) -> T_co: ...

    def empty(self) -> bool: ...


def collect_batch(
    source: BatchSource[T],
    max_size: int,
    max_wait_s: float,
    *,
    first_timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[T]:
    """Returns up to `max_size` items: [] if none arrives within `first_timeout`.

    After the first item it waits at most `max_wait_s` for more, and not at all when nothing
    else is queued: a lone request on an idle service runs at once, while under load the
    queue fills during a forward pass and the next batch is gathered from it.
    """
    try:
        batch = [source.get(timeout=first_timeout)]
    except queue.Empty:
        return []
    if source.empty():
        return batch
    deadline = clock() + max_wait_s
    while len(batch) < max_size:
        remaining = deadline - clock()
        try:
            if remaining <= 0:
                batch.append(source.get(block=False))
            else:
                batch.append(source.get(timeout=remaining))
        except queue.Empty:
            break
    return batch
