"""The exceptions of vtex-order-flow: one root, subclasses that carry structured fields."""

from __future__ import annotations

import difflib
import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_DEFECTS_SHOWN",
    "MAX_SUGGESTED_LENGTH",
    "ContradictoryFactsError",
    "Defect",
    "ExtendsChainTooLongError",
    "ExtendsOutsideFolderError",
    "GraphvizNotFoundError",
    "InvalidArgumentError",
    "InvalidModelError",
    "LeaseLostError",
    "MissingExtraError",
    "ModelFileError",
    "ModelFileTooDeepError",
    "ModelFileTooLargeError",
    "ModelTooLargeError",
    "NotificationError",
    "Rule",
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
    "closest",
    "expect",
    "expect_id",
    "shown",
    "validation_problems",
]


class VtexOrderFlowError(Exception):
    """Root of every error this library raises on purpose."""


def shown(value: object) -> str:
    """A value as an error message quotes it: its repr, cut to 60 characters."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300 digits
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 60 else text[:57] + "..."


def validation_problems(error: Any, *, with_input: bool = False) -> list[tuple[str, str]]:
    """A pydantic ``ValidationError``'s problems as (path, message), the path spelled
    ``statuses[3].meaning`` (empty for the whole document); `with_input` adds the bad value."""
    problems = []
    for item in error.errors(include_url=False):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
        got = f" (got {item['input']!r})" if with_input and item["type"] != "missing" else ""
        problems.append((path.lstrip("."), f"{item['msg']}{got}"))
    return problems


MAX_SUGGESTED_LENGTH = 64
"""Names longer than this get no "did you mean": no valid name is nearly that long, and matching
costs time in the length (a 10 MB batch line naming a status must cost no more than a short one)."""

_SHORTLIST = 6
"""How many valid names, nearest by shared letter pairs, difflib compares a value with."""


def closest(value: str, valid: Iterable[str], n: int = 3) -> tuple[str, ...]:
    """The valid names nearest to `value`, best first (may be empty); case is not a difference.

    Bounded work for any input: nothing for a value longer than `MAX_SUGGESTED_LENGTH`, and
    difflib ranks only the few valid names that share the most letter pairs with it.
    """
    if not isinstance(value, str) or len(value) > MAX_SUGGESTED_LENGTH:
        return ()
    names = tuple(valid)
    if len(names) > _SHORTLIST:
        names = _shortlist(value, names)
    found = difflib.get_close_matches(value, names, n=n, cutoff=0.5)
    if not found:
        folded = {name.lower(): name for name in names}
        lower = value.lower()
        if lower != value or any(key != name for key, name in folded.items()):  # else: the same pass
            found = [folded[m] for m in difflib.get_close_matches(lower, list(folded), n=n, cutoff=0.5)]
    return tuple(found)


def _pairs(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset((text,))


@functools.lru_cache(maxsize=64)  # a model has a few lists of valid names: statuses, actions, ...
def _pairs_of(names: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(_pairs(name.lower()) for name in names)


def _shortlist(value: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The `_SHORTLIST` names sharing the most letter pairs with `value` (Dice's coefficient)."""
    mine = _pairs(value.lower())
    theirs = _pairs_of(names)
    scores = [len(mine & pairs) / (len(mine) + len(pairs)) for pairs in theirs]
    best = sorted(range(len(names)), key=scores.__getitem__, reverse=True)[:_SHORTLIST]
    return tuple(names[i] for i in best)


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


def expect(value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Refuse an argument of the wrong type with `InvalidArgumentError` naming it."""
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        article = "an" if names[0].lower() in "aeiou" else "a"
        raise InvalidArgumentError(
            f"{what} must be {article} {names}, not {type(value).__name__} {shown(value)}"
        )


def expect_iterable(value: object, what: str, of: str) -> None:
    """Refuse anything but an iterable of `of` (a string or bytes is one thing, not many) with
    `InvalidArgumentError` naming it."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"{what} must be an iterable of {of}, not {type(value).__name__} {shown(value)}"
        )


def expect_id(value: object, what: str = "an order id") -> None:
    """Refuse anything but a non-empty string that every store can hold (valid Unicode, no NUL)
    as an id, with `InvalidArgumentError`."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} is a non-empty string, not {shown(value)}")
    if "\x00" in value:  # PostgreSQL's text cannot hold it: refused everywhere alike
        raise InvalidArgumentError(f"{what} contains a NUL character: {shown(value)}")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: no file, database or JSON can carry it
            raise InvalidArgumentError(f"{what} is not valid Unicode text: {shown(value)}") from None


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


class Rule(enum.StrEnum):
    """The rules a model must satisfy; every `Defect` names the one it breaks."""

    SCHEMA = "schema"
    """The file does not match the model file's JSON Schema (a field missing, mistyped or unknown)."""
    UNKNOWN_STATUS = "unknown-status"
    """A transition, flow or override names a status the model does not declare."""
    DUPLICATE_STATUS = "duplicate-status"
    """Two statuses (or a status and an alias) share an id."""
    DUPLICATE_TRANSITION = "duplicate-transition"
    """Two transitions share (from, to, trigger)."""
    UNKNOWN_FLOW = "unknown-flow"
    """A status or transition names a flow the model does not declare."""
    UNKNOWN_CAUSE = "unknown-cause"
    """A trigger or transition names a cause that is not one of `Cause`."""
    UNDECLARED_TRIGGER = "undeclared-trigger"
    """A transition's trigger is declared neither as an action nor as an event."""
    TRIGGER_DECLARED_TWICE = "trigger-declared-twice"
    """A name is declared both as an action and as an event."""
    UNKNOWN_FACT = "unknown-fact"
    """A guard or effect names a fact the model does not declare."""
    UNKNOWN_CODE = "unknown-code"
    """An action's error rule names a result code the model does not declare."""
    UNKNOWN_SOURCE = "unknown-source"
    """An entry cites a source id the model does not declare."""
    STATUS_NOT_IN_FLOW = "status-not-in-flow"
    """A transition (or the initial status) of flow F uses a status that is not in F."""
    UNREACHABLE_STATUS = "unreachable-status"
    """A status of flow F cannot be reached from F's initial status."""
    DEAD_END = "dead-end"
    """A non-terminal status of flow F has no way out to another status in F."""
    TERMINAL_WITH_EXIT = "terminal-with-exit"
    """A terminal status has a way out to another status."""
    AMBIGUOUS_TRIGGER = "ambiguous-trigger"
    """Two moves of one flow leave a status on one trigger, and both guards can hold."""
    TIMER_WITHOUT_DURATION = "timer-without-duration"
    """A timer transition does not say after how long it fires."""
    UNEXPLAINED_CONFIDENCE = "unexplained-confidence"
    """An inferred or contested fact has no note saying what it rests on (or which reading)."""
    UNKNOWN_ACTION = "unknown-action"
    """A prerequisite, an event's `same_as` or a transition's `reverses` names an undeclared action."""
    NEEDS_NON_PREREQUISITE = "needs-non-prerequisite"
    """An action would wait on a connector action that is not its prerequisite, with no error rule
    naming the status to say it is refused there."""
    FOLLOW_UP_CONTRADICTS_VERDICT = "follow-up-contradicts-verdict"
    """A decision predicts an answer whose follow-up contradicts its verdict (a reject that says retry)."""
    BAD_OVERRIDE = "bad-override"
    """A patch or removal names what the base lacks, or comes without `extends`."""


@dataclass(frozen=True, slots=True)
class Defect:
    """One broken rule: which `rule`, in which `entry` (e.g. ``transitions[3]``), and why."""

    rule: Rule
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.message} [{self.rule}]"


MAX_DEFECTS_SHOWN = 100
"""How many defects an `InvalidModelError`'s message (and the CLI) lists; the rest are counted.
A model broken everywhere is fixed from its first defects, and its message stays readable."""


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
