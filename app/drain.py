"""Drain on SIGTERM/SIGINT: /readyz turns 503 while the server keeps serving for a delay, then
the server's own graceful shutdown runs, and a watchdog bounds how long all of it may take.

uvicorn alone closes its listener at once on SIGTERM and runs the lifespan shutdown only after
the last request, so a readiness probe never sees 503 and a load balancer still sends traffic
to a closed port. Kubernetes removes a pod from its endpoints concurrently with the SIGTERM, so
the pod must go on accepting requests until that removal has spread: the drain delay.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The status of a process that the watchdog ended: not 0, it did not stop cleanly.
FORCED_EXIT_STATUS = 1

SignalHandler = Callable[[int, FrameType | None], Any]


class SignalDrain:
    """Wraps the server's SIGTERM/SIGINT handlers (uvicorn's Server.handle_exit) with a drain.

    The first signal calls `on_drain` (readiness turns 503) and hands the signal to the server
    `delay_s` later; a second signal hands it over at once, later ones go straight to the server
    (uvicorn: a repeated Ctrl+C forces the exit). From the first signal, the process gets
    `delay_s + timeout_s` to exit before the watchdog ends it.
    """

    def __init__(self, on_drain: Callable[[], None], delay_s: float, timeout_s: float) -> None:
        self._on_drain = on_drain
        self._delay_s = delay_s
        self._timeout_s = timeout_s
        self._previous: dict[int, SignalHandler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._handed_over = False

    def install(self) -> bool:
        """Wraps the handlers in place; False where there is nothing to wrap.

        Call it from the lifespan startup, on the event loop: by then uvicorn has installed its
        handlers. Signals reach only the main thread, so a server run in another thread (the
        tests' in-process servers, TestClient) keeps its plain shutdown.
        """
        if self._delay_s <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        for sig in DRAIN_SIGNALS:
            previous = signal.getsignal(sig)
            # Python's own Ctrl+C handler (KeyboardInterrupt) and SIG_DFL mean no server owns
            # the signal: deferring it would only delay an exit nobody drains.
            if callable(previous) and previous is not signal.default_int_handler:
                self._previous[sig] = previous
                signal.signal(sig, self._handle)
        return bool(self._previous)

    def uninstall(self) -> None:
        """Puts the wrapped handlers back (the server restores its own when it ends)."""
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if self._handed_over:
            self._previous[sig](sig, frame)
        elif self._draining:
            # A second signal: whoever sends it does not want to wait out the delay.
            self._hand_over(sig)
        else:
            self._draining = True
            self._on_drain()
            self._start_watchdog()
            log.warning(
                "received %s: /readyz is 503; still serving for %g s, then stopping",
                signal.Signals(sig).name,
                self._delay_s,
            )
            assert self._loop is not None
            # A signal handler may interrupt the loop anywhere: only the thread-safe call may
            # touch it from here.
            self._loop.call_soon_threadsafe(self._schedule_hand_over, sig)

    def _schedule_hand_over(self, sig: int) -> None:
        assert self._loop is not None
        if not self._handed_over:
            self._timer = self._loop.call_later(self._delay_s, self._hand_over, sig)

    def _hand_over(self, sig: int) -> None:
        if self._handed_over:
            return
        self._handed_over = True
        if self._timer is not None:
            self._timer.cancel()
        log.warning("drain delay over: no new connections; finishing requests in flight")
        previous = self._previous[sig]
        server = getattr(previous, "__self__", None)
        if server is not None and hasattr(server, "should_exit"):
            # uvicorn's handle_exit would also record the signal and raise it again once the
            # server has stopped, ending a clean drain killed by SIGTERM (status 143), not 0.
            server.should_exit = True
        else:
            previous(sig, None)

    def _start_watchdog(self) -> None:
        bound = self._delay_s + self._timeout_s

        def give_up() -> None:
            log.error("not stopped %g s after the signal; exiting now", bound)
            os._exit(FORCED_EXIT_STATUS)

        # A thread, not the loop: the bound must hold when the loop or a worker thread hangs.
        watchdog = threading.Timer(bound, give_up)
        watchdog.daemon = True
        watchdog.name = "shutdown-watchdog"
        watchdog.start()
