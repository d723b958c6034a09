"""How much CPU a read step may spend and still be within 1.3× the fsync floor, on this machine.

``python -m bench.lean_loop`` runs the least a durable read step cannot skip, in plain Python:
pack its three events (turn, intent, result) with msgpack, frame them (length, CRC), fence
(``lseek`` + ``pread``), ``pwrite`` into zeros written ahead as agentrun's writer does, one
``fdatasync`` after the turn and intent, keep the two messages. Then the same with N µs of
busy Python work added to every step (N = 25, 50, 90). Each run is paired with the floor of
``bench.loop`` right after it: a raw ``O_APPEND`` file with as many writes, bytes and
fdatasyncs. The table shows which per-step CPU budget keeps the ratio under the loop's target;
``python -m bench.loop`` shows what agentrun's loop spends.

This is a benchmark, not a test: nothing fails on a slow machine; the table says what it saw.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import msgpack

from bench.loop import TARGET_RATIO, floor_run

FRAME = struct.Struct("<II")  # length, crc32: the shape of agentrun's record header
FILLER = "abcdefghijklmnopqrstuvwxyz0123456789" * 40
TS = "2026-11-27T00:00:00.000000+00:00"
ZEROS_AHEAD = 4 * 1024 * 1024


def busy(iterations: int) -> None:
    """Python work that touches a little memory, as the loop's glue code does."""
    scratch: dict[int, str] = {}
    for i in range(iterations):
        scratch[i & 63] = str(i)


def iterations_per_us() -> float:
    started = time.perf_counter()
    busy(200_000)
    return 200_000 / ((time.perf_counter() - started) * 1e6)


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def lean_steps(path: Path, steps: int, work: int) -> tuple[float, int]:
    """µs per read step and the bytes it wrote, ``work`` busy iterations per step."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.pwrite(fd, bytes(ZEROS_AHEAD), 0)  # written ahead, not timed, as the writer's are
    os.fsync(fd)
    packer, messages, end, seq = msgpack.Packer(use_bin_type=True), [], 0, 0
    nothing = bytes(FRAME.size)

    def append(data: bytes) -> None:
        nonlocal end
        if os.lseek(fd, 0, os.SEEK_END) != ZEROS_AHEAD or os.pread(fd, 8, end) != nothing:
            raise SystemExit("the file changed under the lean loop")
        os.pwrite(fd, data, end)
        end += len(data)

    try:
        started = time.perf_counter()
        for i in range(steps):
            call = {"id": f"call_{i}", "name": "fetch", "arguments": {"n": i}}
            message: dict[str, Any] = {
                "role": "assistant",
                "content": FILLER[:300],
                "tool_calls": [call],
            }
            turn = {"seq": seq + 1, "ts": TS, "kind": "model_responded", "message": message}
            intent = {"seq": seq + 2, "ts": TS, "kind": "tool_intended", **call, "effect": "read"}
            append(frame(packer.pack(turn)) + frame(packer.pack(intent)))
            os.fdatasync(fd)
            messages.append(message)
            output = f"result of step {i:06d}: " + FILLER[:1000]
            result = {"seq": seq + 3, "ts": TS, "kind": "tool_completed", "output": output}
            append(frame(packer.pack(result)))
            messages.append({"role": "tool", "content": output, "tool_call_id": call["id"]})
            seq += 3
            busy(work)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        os.unlink(path)
    return elapsed / steps * 1e6, end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lean_loop", description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rate = iterations_per_us()
    root = Path(tempfile.mkdtemp(prefix="agentrun-bench-lean-"))
    ratios: dict[int, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for work_us in (0, 25, 50, 90):
                lean, written = lean_steps(root / "lean.log", args.steps, int(work_us * rate))
                # bench.loop's floor: two writes and one fdatasync per step, same bytes.
                floor = floor_run(root / "floor.log", 2 * args.steps, args.steps, written)
                ratios.setdefault(work_us, []).append(lean / (floor.seconds / args.steps * 1e6))
    finally:
        os.rmdir(root)
    print(f"## A lean read step against the fsync floor ({args.steps} steps, {args.rounds} rounds)")
    print()
    print(f"| Python work added per step µs | ratio, median | ratio, range | ≤ {TARGET_RATIO}× |")
    print("|--:|--:|--:|---|")
    for work_us, values in ratios.items():
        median = statistics.median(values)
        print(
            f"| {work_us} | {median:.2f}× | {min(values):.2f}-{max(values):.2f}× "
            f"| {'yes' if median <= TARGET_RATIO else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
