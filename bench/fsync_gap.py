"""How long an fdatasync takes when CPU work comes between syncs, against back-to-back syncs.

    python -m bench.fsync_gap [--dir DIR] [--syncs N]

The raw floors of ``bench.store`` and ``bench.loop`` issue their fdatasyncs back to back; a
store or a loop does its work between them. On some disks and virtual machines an fdatasync
that follows a stretch of CPU work takes longer than one that follows another fdatasync, so part
of a measured ratio is the disk's, not the code's. This probe writes the same ~2 KB per sync to
one file and busy-waits a fixed gap before each sync, in alternating blocks so that drift in
the disk's speed hits every gap alike. Nothing agentrun-specific runs here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

GAPS_US = (0, 25, 50, 100, 200)
FRAME = b"x" * 960


def _spin(us: int) -> None:
    end = time.perf_counter_ns() + us * 1000
    while time.perf_counter_ns() < end:
        pass


def fsync_after_gap(
    directory: Path, gaps_us: tuple[int, ...] = GAPS_US, syncs: int = 1500
) -> dict[int, float]:
    """Median µs of one fdatasync after each CPU gap (µs), ``syncs`` samples per gap."""
    samples: dict[int, list[float]] = {gap: [] for gap in gaps_us}
    path = directory / "fsync-gap.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    block = 50
    try:
        for _ in range(max(1, syncs // block)):
            for gap in gaps_us:
                for _ in range(block):
                    _spin(gap)
                    os.write(fd, FRAME)
                    os.write(fd, FRAME)
                    started = time.perf_counter_ns()
                    os.fdatasync(fd)
                    samples[gap].append((time.perf_counter_ns() - started) / 1000)
    finally:
        os.close(fd)
        path.unlink()
    return {gap: statistics.median(values) for gap, values in samples.items()}


def gap_lines(directory: Path, syncs: int = 1500) -> list[str]:
    """A markdown table of the probe, for the other benchmarks' reports."""
    medians = fsync_after_gap(directory, syncs=syncs)
    base = medians[0]
    lines = [
        f"fdatasync after a CPU gap (`bench.fsync_gap`, {syncs} syncs per gap, medians, "
        "same file, alternating blocks):",
        "",
        "| CPU gap before the sync µs | fdatasync µs | vs back-to-back |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {gap} | {us:.0f} | {us / base:.2f}× |" for gap, us in medians.items()]
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fsync_gap", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    parser.add_argument("--syncs", type=int, default=1500, help="samples per gap")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agentrun-bench-gap-", dir=args.dir) as tmp:
        print("\n".join(gap_lines(Path(tmp), args.syncs)))


if __name__ == "__main__":
    main()
