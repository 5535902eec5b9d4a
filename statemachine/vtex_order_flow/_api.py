"""The module-level shortcut: `decide` on the bundled VTEX model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._loader import bundled_model

if TYPE_CHECKING:
    from ._decision import Decision, Facts

__all__ = ["decide"]


def decide(status: str, action: str, flow: str | None = None, facts: Facts = None) -> Decision:
    """`FlowModel.decide` on the bundled VTEX model."""
    return bundled_model().decide(status, action, flow, facts)
