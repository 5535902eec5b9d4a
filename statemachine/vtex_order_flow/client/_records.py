"""The dispatcher's calls to the tracker, in the shape it wants them: one call per claimed batch.

The dispatcher asks for a batch of entries at each step (their marketplace ids, marking them
sent, releasing them, recording VTEX's answers); this module is the only place that says how
the tracker does it. `Tracker.claim` already takes a batch; the other steps have only per-entry
calls today (`marketplace_id`, `sent`, `release`, `result`), each its own transaction, so each
method here loops over them. Once the tracker offers the batch calls (`marketplace_ids`,
`sent_many`, `release_many`, `results`), each method becomes that one call and the dispatcher
does not change: one transaction per claimed batch and step instead of one per entry.

Each method answers entry by entry, in the order given: the entry as the tracker holds it after
the step, or the `VtexOrderFlowError` that step raised for it (a lease lost, a store that
failed), so that one entry's failure does not fail the others'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import VtexOrderFlowError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .. import Advice
    from ..tracking import Entry, Tracker

__all__ = ["Records"]


class Records:
    """The tracker's outbox as the dispatcher uses it, one batch at a time, for one owner."""

    def __init__(self, tracker: Tracker, owner: str) -> None:
        self.tracker = tracker
        self.owner = owner

    def claim(self, limit: int, lease: float) -> list[Entry]:
        """Up to `limit` entries to send now, leased to the owner (one transaction already)."""
        return self.tracker.claim(limit, lease, self.owner)

    def marketplace_ids(self, entries: Sequence[Entry]) -> dict[str, str]:
        """The marketplace ids the entries' orders were linked from, by VTEX's order id (only
        the linked ones). Today a read per order; wanted: ``Tracker.marketplace_ids(order_ids:
        Iterable[str]) -> dict[str, str]``, one read."""
        found: dict[str, str] = {}
        for order_id in dict.fromkeys(entry.order_id for entry in entries):
            marketplace_id = self.tracker.marketplace_id(order_id)
            if marketplace_id is not None:
                found[order_id] = marketplace_id
        return found

    def sent(self, entries: Sequence[Entry]) -> list[Entry | VtexOrderFlowError]:
        """Mark the claimed entries sent, just before their requests go out (`LeaseLostError`
        for one the owner no longer holds). Wanted: ``Tracker.sent_many(keys: Sequence[str],
        owner: str | None = None) -> list[Entry | LeaseLostError]``, one transaction."""
        return [self._each(lambda e: self.tracker.sent(e.key, self.owner), entry) for entry in entries]

    def release(self, entries: Sequence[Entry]) -> list[Entry | VtexOrderFlowError]:
        """Hand claimed entries back unsent (a stop). Wanted: ``Tracker.release_many(keys:
        Sequence[str], owner: str | None = None) -> list[Entry | LeaseLostError]``."""
        return [self._each(lambda e: self.tracker.release(e.key, self.owner), entry) for entry in entries]

    def results(self, answers: Sequence[tuple[Entry, Advice]]) -> list[Entry | VtexOrderFlowError]:
        """Record VTEX's answer to each sent entry (or the advice for a body it would not take).
        Wanted: ``Tracker.results(answers: Sequence[tuple[str, Advice]], owner: str | None =
        None) -> list[Entry | LeaseLostError]``, one transaction."""
        recorded: list[Entry | VtexOrderFlowError] = []
        for entry, advice in answers:
            try:
                recorded.append(self.tracker.result(entry.key, advice, self.owner))
            except VtexOrderFlowError as error:
                recorded.append(error)
        return recorded

    @staticmethod
    def _each(step: Callable[[Entry], Entry], entry: Entry) -> Entry | VtexOrderFlowError:
        try:
            return step(entry)
        except VtexOrderFlowError as error:
            return error
