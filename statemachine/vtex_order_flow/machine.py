"""A flow as a `transitions` state machine, for callers who want the engine's callbacks: build
one with `build_machine`, move an order with `fire`, ask `may_fire` before.

Importing this module imports `transitions`; deciding (`vtex_order_flow.decide`) never does.
"""

from ._machine import build_machine, fire, may_fire

__all__ = ["build_machine", "fire", "may_fire"]
