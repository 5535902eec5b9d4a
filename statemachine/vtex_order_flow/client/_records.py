"""The dispatcher's calls to the tracker, in the shape it wants them: one call per claimed batch.

The dispatcher asks for a batch of entries at each step (their marketplace ids, marking them
sent, releasing them, recording VTEX's answers); this module is the only place that says how
the tracker does it: each step is one of the tracker's batch calls (`claim`, `marketplace_ids`,
`sent_many`, `release_many`, `results`), one transaction per claimed batch and step instead of
one per entry.

Each method answers entry by entry, in the order given: the entry as the tracker holds it after
the step, or the `VtexOrderFlowError` that step raised for it (a lease lost, a store that
failed), so that one entry's failure does not fail the others'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import VtexOrderFlowError

if TYPE_CHECKING:
    from collections.abc import Sequence

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
        the linked ones): one read."""
        return self.tracker.marketplace_ids(dict.fromkeys(entry.order_id for entry in entries))

    def sent(self, entries: Sequence[Entry]) -> list[Entry | VtexOrderFlowError]:
        """Mark the claimed entries sent, just before their requests go out (`LeaseLostError`
        for one the owner no longer holds): one transaction."""
        return list(self.tracker.sent_many([entry.key for entry in entries], self.owner))

    def release(self, entries: Sequence[Entry]) -> list[Entry | VtexOrderFlowError]:
        """Hand claimed entries back unsent (a stop): one transaction."""
        return list(self.tracker.release_many([entry.key for entry in entries], self.owner))

    def results(self, answers: Sequence[tuple[Entry, Advice]]) -> list[Entry | VtexOrderFlowError]:
        """Record VTEX's answer to each sent entry (or the advice for a body it would not take):
        one transaction."""
        return list(self.tracker.results([(entry.key, advice) for entry, advice in answers], self.owner))
