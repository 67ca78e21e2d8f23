"""Keeps the inference worker alive: a dead worker thread is started again in-process."""

from __future__ import annotations

import asyncio
import logging

from app.worker import InferenceWorker

log = logging.getLogger(__name__)

# How often the worker thread is looked at; a dead one costs at most this much unavailability
# before its restart begins (then the warm-up).
CHECK_INTERVAL_S = 0.2


async def supervise(worker: InferenceWorker) -> None:
    """Restarts `worker` whenever its thread has died, until the lifespan cancels this.

    It goes on while /readyz says draining: during the drain delay requests are still served.
    """
    while True:
        await asyncio.sleep(CHECK_INTERVAL_S)
        if not worker.alive:
            log.error("the inference worker thread is dead; restarting it")
            worker.restart()
