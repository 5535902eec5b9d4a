"""Waking the workers: a dispatcher sleeps in `wait` between claims; a ready entry wakes it."""

from __future__ import annotations

import threading
import time
from typing import Any

from .._guards import expect_seconds

__all__ = ["Waking"]


class Waking:
    """`Tracker.wait` and `Tracker.wake`: in-process readiness always wakes a waiting worker; a
    store that hears other processes (PostgreSQL's LISTEN/NOTIFY) wakes it for theirs too."""

    store: Any

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._woken = 0

    def wait(self, timeout: float) -> bool:
        """Block until an entry becomes ready (or `timeout` seconds pass); whether one did. A
        dispatcher sleeps on it between claims. In-process readiness always wakes it; a store
        that can hear other processes (PostgreSQL's LISTEN/NOTIFY) wakes it for theirs too;
        otherwise their entries are found by the next claim."""
        seconds = expect_seconds(timeout, "wait's timeout")
        with self._wake:
            seen = self._woken
        deadline = time.monotonic() + seconds
        while self._woken == seen:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # Short slices: a `wake` of this tracker is seen within 50 ms; the store's own (its
            # commits that made entries ready; PostgreSQL's NOTIFY from every process) at once.
            if self.store.wait_ready(min(left, 0.05)):
                return True
        return True

    def wake(self) -> None:
        """Wake every thread in `wait` now."""
        with self._wake:
            self._woken += 1
            self._wake.notify_all()
