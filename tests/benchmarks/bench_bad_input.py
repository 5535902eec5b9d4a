"""Benchmark of bad input against good, run on demand (never by the test suite): in one run,

- ``vtex-order-flow decide --batch`` on N valid lines and on N lines that each name a distinct
  unknown status (every one gets a "did you mean" and an error line), reporting the time and the
  peak memory of each: memory must not grow with distinct bad lines, and each costs at most the
  bounded price of one suggestion;
- ``closest()`` alone, on distinct unknown names, short and long.

    python tests/benchmarks/bench_bad_input.py            # 1,000,000 lines of each
    python tests/benchmarks/bench_bad_input.py --quick    # 100,000 lines of each
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from vtex_order_flow import bundled_model
from vtex_order_flow._text import closest

# The CLI in a child that reports its own peak memory (ru_maxrss, KiB on Linux) on stderr.
_CHILD = """
import os, resource, sys
from vtex_order_flow.cli import main
with open(os.devnull, "w") as sink:
    code = main(["decide", "--batch", sys.argv[1]], sink)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
raise SystemExit(code)
"""


def write_lines(path: Path, lines: int, *, bad: bool) -> None:
    model = bundled_model()
    pairs = [(s.id, a) for s in model.statuses_in("seller") for a in model.actions]
    with path.open("w") as out:
        for i in range(lines):
            status, action = pairs[i % len(pairs)]
            if bad:  # a distinct unknown status on every line, near a real one (a typo and a number)
                status = f"{status[:-1]}-{i}"
            out.write(json.dumps({"id": f"o-{i}", "status": status, "action": action}) + "\n")


def run_batch(path: Path) -> tuple[float, int, int]:
    """Seconds, peak RSS in MiB and exit code of one batch run."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib // 1024, done.returncode


def bench_closest(names: list[str]) -> dict[str, float]:
    short = [f"handlin-{i}" for i in range(2_000)]
    long = [f"handling-{'x' * 300}-{i}" for i in range(200)]

    def each(values: list[str]) -> float:
        timer = timeit.Timer(lambda: [closest(v, names) for v in values])
        return min(timer.repeat(repeat=3, number=1)) / len(values) * 1e6

    return {"short_us": each(short), "long_us": each(long)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 lines of each")
    parser.add_argument("--lines", type=int, help="lines of each kind (default 1,000,000)")
    args = parser.parse_args()
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")

    model = bundled_model()
    names = [*model.statuses, *(a for s in model.statuses.values() for a in s.aliases)]
    found = bench_closest(names)
    print(f"\nclosest() against the {len(names)} status names and aliases, per distinct value:")
    print(f"  a short unknown name        {found['short_us']:8.1f} us")
    print(f"  a 300-character name        {found['long_us']:8.1f} us")

    workdir = Path(tempfile.mkdtemp(prefix="vof-bench-"))
    try:
        results = {}
        for kind in ("valid", "bad"):
            path = workdir / f"{kind}.jsonl"
            write_lines(path, lines, bad=kind == "bad")
            results[kind] = run_batch(path)
    finally:
        shutil.rmtree(workdir)
    print(f"\nBatch CLI end to end, {lines:,} lines of each kind:")
    for kind, (seconds, mib, code) in results.items():
        print(
            f"  {kind:<6} {seconds:7.2f} s  {lines / seconds:10,.0f} lines/s  peak {mib:5d} MiB  exit {code}"
        )
    slower = results["bad"][0] / results["valid"][0]
    heavier = results["bad"][1] / results["valid"][1]
    per_line = (results["bad"][0] - results["valid"][0]) / lines * 1e6
    print(f"  distinct bad lines cost {slower:.1f}x the time ({per_line:.0f} us more a line, the")
    print(f"  suggestions) and {heavier:.1f}x the memory of valid ones")
    # Memory must not grow with distinct bad lines; time may, by the bounded cost of a suggestion.
    ok = heavier <= 2 and per_line <= 300
    print("\nTargets met (memory <= 2x, <= 300 us a bad line)." if ok else "\nSome targets missed.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
