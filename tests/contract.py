"""What the issues promise callers, written once for the tests that pin it."""

# The keys `decide --json` and `Decision.to_dict()` must carry (issue: "at least the keys").
DECISION_KEYS = frozenset(
    {
        "verdict",
        "status",
        "action",
        "flow",
        "reason",
        "path",
        "remedy",
        "expected_error",
        "already_done",
        "retry_after",
        "confidence",
    }
)
