"""Benchmark of the decision path, run on demand (never by the test suite): compares, in one run,

- ``FlowModel.decide()`` against its floor, a plain dict lookup of precomputed decisions, and
  against transitions' ``may_<trigger>`` on a machine built from the same model;
- ``vtex-order-flow decide --batch`` end to end on a large JSON Lines file;
- the cold start of ``vtex-order-flow decide`` against ``python -c pass``;
- what importing and deciding loads (pydantic and transitions must stay off the decision path).

    python tests/benchmarks/bench_decide.py            # the README's figures
    python tests/benchmarks/bench_decide.py --quick    # a smaller batch file, fewer runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from vtex_order_flow import bundled_model


def per_call(stmt: str, setup_globals: dict[str, object], calls: int, repeat: int = 7) -> float:
    """Best time per call, in nanoseconds, over `repeat` runs of `calls` calls."""
    timer = timeit.Timer(stmt, globals=setup_globals)
    return min(timer.repeat(repeat=repeat, number=1)) / calls * 1e9


def bench_in_process(rounds: int) -> dict[str, float]:
    model = bundled_model()
    flow = "seller"
    pairs = [(s.id, a) for s in model.statuses_in(flow) for a in model.actions] * rounds
    decide = model.decide
    table = {(s, a, flow): decide(s, a, flow) for s, a in pairs}  # also warms decide's cache

    from transitions import Machine

    class Order:
        state: str

    machine: Machine = model.machine(flow).__class__(
        model=None,
        states=list(model.machine(flow).states),
        initial=model.flow(flow).initial,
        auto_transitions=False,
        send_event=True,
    )
    for t in model.transitions_in(flow):
        source = model.machine(flow).events[t.trigger].transitions[t.source]
        for built in source:
            if built.dest == t.dest:
                machine.add_transition(
                    t.trigger,
                    t.source,
                    t.dest,
                    conditions=[c.func for c in built.conditions if c.target],
                    unless=[c.func for c in built.conditions if not c.target],
                )
    order = Order()
    machine.add_model(order, initial=model.flow(flow).initial)
    may = [(s, getattr(order, f"may_{a}")) for s, a in pairs]

    def run_may() -> None:
        for status, check in may:
            order.state = status
            check(facts={})

    env = {"pairs": pairs, "decide": decide, "table": table, "flow": flow, "run_may": run_may}
    n = len(pairs)
    floor = per_call("for s, a in pairs: table[(s, a, flow)]", env, n)
    ours = per_call("for s, a in pairs: decide(s, a)", env, n)
    facts = {"partial-invoice": True}
    # Only where an order can carry a partial invoice: elsewhere decide refuses the facts.
    carried = [(s, a) for s, a in pairs if s in model.fact_places(flow)["partial-invoice"]]
    env["facts"], env["carried"] = facts, carried
    ours_facts = per_call("for s, a in carried: decide(s, a, flow, facts)", env, len(carried))
    theirs = per_call("run_may()", env, n, repeat=3)
    return {"floor_ns": floor, "decide_ns": ours, "decide_facts_ns": ours_facts, "may_ns": theirs}


def cli() -> list[str]:
    script = Path(sys.executable).with_name("vtex-order-flow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vtex_order_flow"]


def bench_batch(lines: int, workdir: Path) -> dict[str, float]:
    model = bundled_model()
    records: list[dict[str, object]] = [
        {"status": s.id, "action": a, "flow": f}
        for f in model.flows
        for s in model.statuses_in(f)
        for a in model.actions
    ]
    records += [
        {**r, "facts": {"partial-invoice": True}}
        for r in records
        if r["status"] in model.fact_places(str(r["flow"])).get("partial-invoice", ())
    ][:50]
    path = workdir / "batch.jsonl"
    with path.open("w") as out:
        for i in range(lines):
            record = records[i % len(records)]
            out.write(json.dumps({**record, "id": f"order-{i}"}, separators=(",", ":")) + "\n")
    result = workdir / "decisions.jsonl"
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        with result.open("wb") as sink:  # the output is written to disk, as a real run would
            done = subprocess.run([*cli(), "decide", "--batch", str(path)], stdout=sink, check=False)
        best = min(best, time.perf_counter() - start)
        assert done.returncode == 0, done.returncode
        with result.open("rb") as written:
            assert sum(chunk.count(b"\n") for chunk in iter(lambda: written.read(1 << 20), b"")) == lines
    return {"lines": lines, "seconds": best, "lines_per_s": lines / best, "mib": path.stat().st_size / 2**20}


def bench_cold_start(runs: int) -> dict[str, float]:
    def median(argv: list[str]) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    baseline = median([sys.executable, "-c", "pass"])
    ours = median([*cli(), "decide", "approve", "--status", "handling"])
    return {"python_pass_ms": baseline, "decide_ms": ours, "extra_ms": ours - baseline}


def imports_on_decision_path() -> dict[str, bool]:
    code = (
        "import sys, vtex_order_flow as v; v.decide('handling', 'invoice');"
        "print(int('pydantic' in sys.modules), int('transitions' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    pydantic, transitions = (bool(int(x)) for x in out.split())
    return {"pydantic_loaded": pydantic, "transitions_loaded": transitions}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 batch lines, fewer runs")
    parser.add_argument("--lines", type=int, help="batch file size (default 1,000,000)")
    args = parser.parse_args()
    lines = args.lines or (100_000 if args.quick else 1_000_000)

    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    speed = bench_in_process(rounds=20 if args.quick else 100)
    ratio_floor = speed["decide_ns"] / speed["floor_ns"]
    ratio_may = speed["may_ns"] / speed["decide_ns"]
    print("\nIn process (seller flow, every status x action, warm):")
    print(f"  dict lookup (floor)         {speed['floor_ns']:8.0f} ns/call")
    print(f"  decide()                    {speed['decide_ns']:8.0f} ns/call", end="")
    print(f"  = {ratio_floor:.2f}x the floor (target <= 3x)")
    print(f"  decide() with facts         {speed['decide_facts_ns']:8.0f} ns/call")
    print(f"  transitions may_<trigger>   {speed['may_ns']:8.0f} ns/call", end="")
    print(f"  = decide() is {ratio_may:.0f}x faster (target >= 40x)")

    workdir = Path(tempfile.mkdtemp(prefix="vof-bench-"))
    try:
        batch = bench_batch(lines, workdir)
    finally:
        shutil.rmtree(workdir)
    print(f"\nBatch CLI end to end ({batch['lines']:,} lines, {batch['mib']:.0f} MiB, best of 3):")
    print(f"  {batch['seconds']:.2f} s = {batch['lines_per_s']:,.0f} lines/s (target >= 200,000)")

    cold = bench_cold_start(runs=10 if args.quick else 30)
    print("\nCold start (median):")
    print(f"  python -c pass              {cold['python_pass_ms']:6.1f} ms")
    print(f"  vtex-order-flow decide      {cold['decide_ms']:6.1f} ms", end="")
    print(f"  = +{cold['extra_ms']:.1f} ms (target <= +150 ms)")

    loaded = imports_on_decision_path()
    print("\nDecision path imports:")
    print(
        f"  pydantic loaded: {loaded['pydantic_loaded']}; transitions loaded: {loaded['transitions_loaded']}"
    )

    ok = (
        ratio_floor <= 3
        and ratio_may >= 40
        and batch["lines_per_s"] >= 200_000
        and cold["extra_ms"] <= 150
        and not loaded["pydantic_loaded"]
    )
    print("\nAll targets met." if ok else "\nSome targets missed (see above).")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
