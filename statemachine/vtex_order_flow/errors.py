"""The exceptions of vtex-order-flow: one root, subclasses that carry structured fields.

This module holds exceptions only. `Rule` and `Defect` (what an `InvalidModelError` lists) are
public from `vtex_order_flow.model`; they and `MAX_DEFECTS_SHOWN` are still found here for code
that reached them here before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._defects import Defect, Rule
from ._text import MAX_DEFECTS_SHOWN, closest, shown

__all__ = [
    "ContradictoryFactsError",
    "EventError",
    "ExtendsChainTooLongError",
    "ExtendsOutsideFolderError",
    "GraphvizError",
    "GraphvizNotFoundError",
    "InvalidArgumentError",
    "InvalidModelError",
    "LeaseLostError",
    "MissingExtraError",
    "ModelFileError",
    "ModelFileTooDeepError",
    "ModelFileTooLargeError",
    "ModelTooLargeError",
    "NotSendableError",
    "NotificationError",
    "PayloadError",
    "SimulationError",
    "StoreError",
    "UnknownActionError",
    "UnknownEventError",
    "UnknownFactError",
    "UnknownFlowError",
    "UnknownFormatError",
    "UnknownModelError",
    "UnknownNameError",
    "UnknownStatusError",
    "UnknownUpdateError",
    "VtexOrderFlowError",
]


class VtexOrderFlowError(Exception):
    """Root of every error this library raises on purpose."""


class UnknownNameError(VtexOrderFlowError, LookupError):
    """A status, flow, action or fact name the model does not know (or not where it was used).

    `kind` says which (``"status"``, ``"flow"``, ``"action"``, ``"fact"``), `value` is the bad
    name, `valid` every name valid there, `suggestions` the closest of them, `detail` what is
    wrong when the name exists but cannot be used there.
    """

    kind = "name"

    def __init__(
        self, value: str, valid: Iterable[str], detail: str | None = None, *, flow: str | None = None
    ) -> None:
        self.flow = flow  # the flow `valid` was listed from, when only one flow's names are valid
        if not isinstance(value, str):  # a name of the wrong type: say so, naming it
            article = "an" if self.kind[0] in "aeiou" else "a"
            detail = detail or f"{article} {self.kind} is named by a string, not {type(value).__name__}"
            value = shown(value)
        self.value = value
        self.valid = tuple(valid)
        self.detail = detail
        self.suggestions = () if detail else closest(value, self.valid)
        super().__init__(self._message())

    def _message(self) -> str:
        # The value cut (`shown`): a 10 MB name in a batch line must not make a 10 MB message.
        if self.detail:
            message = f"{self.kind} {shown(self.value)}: {self.detail}."
        else:
            message = f"unknown {self.kind} {shown(self.value)}"
            if self.suggestions:
                message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
            else:
                message += "."
        if len(self.valid) <= 12:
            message += " Valid: " + (", ".join(self.valid) or "none") + "."
        elif self.kind == "status":
            listing = "vtex-order-flow states" + (f" --flow {self.flow}" if self.flow else "")
            message += f" ({len(self.valid)} valid names; list them with `{listing}`.)"
        else:
            message += f" ({len(self.valid)} valid names.)"
        return message


class UnknownStatusError(UnknownNameError):
    """A status the model does not know."""

    kind = "status"


class UnknownFlowError(UnknownNameError):
    """A flow the model does not know."""

    kind = "flow"


class UnknownActionError(UnknownNameError):
    """A connector action the model does not know."""

    kind = "action"


class UnknownEventError(UnknownNameError):
    """An event (a trigger that is not the connector's) the model does not know."""

    kind = "event"


class UnknownModelError(UnknownNameError):
    """A bundled model the package does not ship."""

    kind = "model"


class UnknownFormatError(UnknownNameError):
    """A diagram format the renderers do not draw."""

    kind = "format"


class UnknownFactError(UnknownNameError):
    """A fact the model does not declare, or a fact given a value other than true or false."""

    kind = "fact"


class ContradictoryFactsError(UnknownFactError):
    """Facts that cannot hold together, or not in the order's status.

    A fact declared false while a fact that implies it is true (``partial-invoice`` without
    ``invoice-exists``), or a fact the order cannot carry where it is (a return invoice on an
    order that was never invoiced). `value` names the fact, `valid` the facts that may hold
    there, `detail` why.
    """

    def __init__(self, value: str, valid: Iterable[str], detail: str, *, valid_means: str) -> None:
        self.valid_means = valid_means
        """What `valid` lists, in words."""
        super().__init__(value, valid, detail)

    def _message(self) -> str:
        valid = ", ".join(self.valid) or "none"
        return f"contradictory facts: fact {shown(self.value)} {self.detail}. {self.valid_means}: {valid}."


class EventError(VtexOrderFlowError, ValueError):
    """A payload that is not a valid order status event; `problems` names each bad field."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        self.problems = problems
        super().__init__(message + (": " + "; ".join(problems) if problems else ""))


class NotificationError(VtexOrderFlowError, ValueError):
    """A Channel Order API reply or notification that is not one; `problems` lists each bad
    field as (path, message), the path spelled ``errors[0].code``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(f"{path or '(body)'}: {message}" for path, message in self.problems)
        super().__init__(f"invalid notification payload: {shown}")


class ModelTooLargeError(VtexOrderFlowError, ValueError):
    """A model whose flows have too many (status, facts) combinations to derive verdicts from in
    reasonable time and memory; the message names the facts that multiply them."""


class PayloadError(VtexOrderFlowError, ValueError):
    """A request body that does not fit VTEX's API (the client's typed bodies); `problems` lists
    each bad field as (path, message)."""

    def __init__(self, what: str, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(f"{path or '(body)'}: {message}" for path, message in self.problems)
        super().__init__(f"invalid {what} body: {shown}")


class NotSendableError(VtexOrderFlowError, RuntimeError):
    """The client kept an update off the wire: the model says VTEX would not accept it now.
    `decision` says why and what would make it sendable (send it with ``force=True`` and a
    reason to overrule the model)."""

    def __init__(self, decision: Any) -> None:
        self.decision = decision
        super().__init__(
            f"{decision.action} on an order in {decision.status} is not sent: "
            f"{decision.verdict}: {decision.reason}"
        )


class InvalidArgumentError(VtexOrderFlowError, ValueError):
    """An argument outside what the call accepts (a timeout, a store setting); the message says
    what was given and what is valid."""


class UnknownUpdateError(VtexOrderFlowError, KeyError):
    """No outbox entry has this key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LeaseLostError(VtexOrderFlowError, RuntimeError):
    """A worker acted on an outbox entry it no longer holds: its lease expired and the entry was
    claimed again, or it was answered, withdrawn or dropped meanwhile."""


class StoreError(VtexOrderFlowError, RuntimeError):
    """A store cannot do what was asked (it is full, or its data is not what it expects)."""


class SimulationError(VtexOrderFlowError, RuntimeError):
    """The testing kit's simulated VTEX cannot go on with this model (a cycle of platform moves,
    no success code for an operation)."""


class MissingExtraError(VtexOrderFlowError, ImportError):
    """A part of the library needs an optional extra that is not installed; the message names it."""


class GraphvizError(VtexOrderFlowError, RuntimeError):
    """`dot` refused the DOT text (a bug in the renderer: please report it)."""


class GraphvizNotFoundError(VtexOrderFlowError, FileNotFoundError):
    """SVG output needs Graphviz's `dot`, which is not on the PATH."""

    def __init__(self) -> None:
        super().__init__(
            "Graphviz's `dot` is not installed; install it (Debian/Ubuntu: `apt-get install graphviz`, "
            "macOS: `brew install graphviz`) or choose --format mermaid, dot or plantuml"
        )


class ModelFileError(VtexOrderFlowError, OSError):
    """A model file that cannot be read: missing, unreadable, or not TOML."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot read model file {path!r}: {reason}")


class ModelFileTooLargeError(ModelFileError):
    """A model file larger than the loader reads (`size` bytes at least, `limit` the most it
    reads: `load_model`'s ``max_bytes``)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            path, f"{size:,} bytes, over the limit of {limit:,} bytes (raise the limit with max_bytes=)"
        )


class ModelFileTooDeepError(ModelFileError):
    """A model file whose tables and arrays nest deeper than `limit` levels (`load_model`'s
    ``max_depth``); `depth` is the depth at which the loader stopped looking (None when the TOML
    parser itself could not follow); `line` the line of the file where it found so (None when
    the depth was found after parsing, or in a mapping)."""

    def __init__(self, path: str, depth: int | None, limit: int, *, line: int | None = None) -> None:
        self.depth = depth
        self.limit = limit
        self.line = line
        where = f"at line {line}; " if line is not None else ""
        super().__init__(
            path,
            f"its tables and arrays nest more than {limit} levels deep "
            f"({where}raise the limit with max_depth=)",
        )


class ExtendsChainTooLongError(ModelFileError):
    """A model whose `extends` chain (a file extending one that extends another, ...) is longer
    than `limit` links (`load_model`'s ``max_extends``); `path` is the file whose `extends` is
    one link too many, `length` the links followed to reach it and that one."""

    def __init__(self, path: str, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            path,
            f"its extends would be link {length:,} of a chain of models extending one another, over "
            f"the limit of {limit:,} links (raise the limit with max_extends=)",
        )


class ExtendsOutsideFolderError(ModelFileError):
    """A model whose `extends` leads outside the folder of the file that names it, refused unless
    the caller allows it (`load_model`'s ``allow_extends_outside``, the CLI's
    ``--allow-extends-outside``). `path` is the model naming it, `extends` what it names,
    `resolved` where that leads, `folder` the folder it must stay in."""

    def __init__(self, path: str, extends: str, resolved: str, folder: str) -> None:
        self.extends = extends
        self.resolved = resolved
        self.folder = folder
        super().__init__(
            path,
            f"extends {extends!r}, which resolves to {resolved!r}, outside the model's folder "
            f"{folder!r} (allow it with allow_extends_outside=True or --allow-extends-outside)",
        )


class InvalidModelError(VtexOrderFlowError, ValueError):
    """A model that breaks one or more rules; `defects` lists every one found, in file order.

    The message lists the first `MAX_DEFECTS_SHOWN` and says how many more there are.
    """

    def __init__(self, origin: str, defects: Iterable[Defect]) -> None:
        self.origin = origin
        self.defects = tuple(defects)
        count = len(self.defects)
        lines = [f"invalid model {origin}: {count:,} defect{'s' if count != 1 else ''}"]
        lines += [f"  {defect}" for defect in self.defects[:MAX_DEFECTS_SHOWN]]
        if count > MAX_DEFECTS_SHOWN:
            lines.append(f"  ... and {count - MAX_DEFECTS_SHOWN:,} more")
        super().__init__("\n".join(lines))

    @property
    def rules(self) -> frozenset[Rule]:
        """The rules broken, for callers that branch on them."""
        return frozenset(defect.rule for defect in self.defects)
