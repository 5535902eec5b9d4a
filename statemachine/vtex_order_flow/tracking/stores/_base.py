"""What the stores share beyond the protocol: closing, the id map's rule, and what a store whose
transactions exclude every other writer (memory, SQLite) does instead of locking."""

from __future__ import annotations

import abc
import threading
from collections.abc import Collection

from ...errors import InvalidArgumentError, StoreError
from .._types import Closing
from ._protocol import RowStore

__all__ = ["ClosingStore", "ExclusiveStore", "check_link"]


def check_link(store: RowStore, marketplace_id: str, order_id: str) -> None:
    """A marketplace order is one VTEX order, and a VTEX order comes from one marketplace order."""
    linked, linked_from = store.load_link(marketplace_id), store.load_marketplace_id(order_id)
    refuse_link(
        marketplace_id,
        order_id,
        linked=linked,
        linked_from=linked_from,
        mkp_is_vtex=linked is None and store.load_marketplace_id(marketplace_id) is not None,
        vtex_is_mkp=linked_from is None and store.load_link(order_id) is not None,
    )


def refuse_link(
    marketplace_id: str,
    order_id: str,
    *,
    linked: str | None,
    linked_from: str | None,
    mkp_is_vtex: bool,
    vtex_is_mkp: bool,
) -> None:
    """Raise `InvalidArgumentError` when the pair contradicts the id map: `linked` is what
    `marketplace_id` maps to, `linked_from` what maps to `order_id`; `mkp_is_vtex` whether
    `marketplace_id` is VTEX's id of another pair, `vtex_is_mkp` whether `order_id` is the
    marketplace id of another."""
    if mkp_is_vtex:
        raise InvalidArgumentError(f"{marketplace_id!r} is a VTEX order id already, not a marketplace one")
    if vtex_is_mkp:
        raise InvalidArgumentError(f"{order_id!r} is a marketplace order id already, not a VTEX one")
    if linked is not None and linked != order_id:
        raise InvalidArgumentError(
            f"marketplace order {marketplace_id!r} is already VTEX order {linked!r}, not {order_id!r}"
        )
    if linked_from is not None and linked_from != marketplace_id:
        raise InvalidArgumentError(
            f"VTEX order {order_id!r} already comes from marketplace order {linked_from!r}, "
            f"not {marketplace_id!r}"
        )


class ClosingStore(Closing):
    """A store: `with store:` closes it at the end; a closed one raises `StoreError`."""

    def _closed_error(self) -> StoreError:
        return StoreError(f"the {type(self).__name__} is closed")


class ExclusiveStore(ClosingStore):
    """A store whose transactions exclude every other writer (the memory store's lock, SQLite's
    BEGIN IMMEDIATE): nothing to lock per order or key, sequence numbers from a counter, and
    readiness heard from this store object's own commits."""

    has_id_map = True

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._readied = 0  # commits that made an entry ready
        self._readying = False  # this transaction made one ready

    def _announce(self) -> None:
        """At commit: wake `wait_ready` when the transaction made an entry ready."""
        if self._readying:
            self._readying = False
            with self._ready:
                self._readied += 1
                self._ready.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a commit of this store object that made an entry
        ready; whether one came (another process's commits cannot be heard: a claim finds them)."""
        if self.closed:
            raise self._closed_error()
        with self._ready:
            seen = self._readied
            return self._ready.wait_for(lambda: self._readied != seen or self.closed, timeout) and (
                self._readied != seen
            )

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """Whether `close` was called."""

    def lock_order(self, order_id: str) -> None:
        """Nothing: the transaction already excludes every other."""

    def lock_key(self, key: str) -> None:
        """Nothing: the transaction already excludes every other."""

    def try_lock_orders(self, order_ids: Collection[str]) -> set[str]:
        """All of them: the transaction already excludes every other."""
        return set(order_ids)

    def next_seqs(self, count: int) -> list[int]:
        """`count` numbers after the ``seq`` counter's."""
        self.incr("seq", count)
        last = self.counter("seq")
        return list(range(last - count + 1, last + 1))

    @abc.abstractmethod
    def incr(self, name: str, by: int = 1) -> None:
        """Add to a named counter."""

    @abc.abstractmethod
    def counter(self, name: str) -> int:
        """A named counter's value."""

    @abc.abstractmethod
    def load_link(self, marketplace_id: str) -> str | None:
        """VTEX's orderId for a marketplace order id, when known."""

    @abc.abstractmethod
    def load_marketplace_id(self, order_id: str) -> str | None:
        """The marketplace order id VTEX's orderId was linked from, when known."""
