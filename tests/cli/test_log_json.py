"""``log --json``, ``log --grep --json`` and ``export`` print, byte for byte, what one
``json.dumps(to_record(event), ensure_ascii=False, default=str)`` line per shown event printed
before they were read as maps a segment at a time (the public JSON contract, style.md).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from agentrun.cli.bulk import json_encoder
from agentrun.core.events import ModelResponded, TaskFinished, ToolCompleted, to_record
from agentrun.store.local import LocalTaskStore
from tests.store.builders import build_task, iso

KIB = 1024


def reference(
    store: LocalTaskStore,
    task_id: str,
    *,
    kinds: tuple[str, ...] = (),
    needle: str | None = None,
    first: int = 1,
    last: int | None = None,
    prefix: str | None = None,
) -> str:
    out = []
    for event in store.events(task_id, first):
        if last is not None and event.seq > last:
            break
        record = to_record(event)
        line = json.dumps(record, ensure_ascii=False, default=str)
        if kinds and event.kind not in kinds:
            continue
        if needle is not None and needle.casefold() not in line.casefold():
            continue
        if prefix is not None:
            line = json.dumps({"task_id": prefix, **record}, ensure_ascii=False, default=str)
        out.append(line + "\n")
    return "".join(out)


def long_task(home: Path, task_id: str = "t-json") -> LocalTaskStore:
    """Several segments, then events with non-ASCII text, bytes, big ints and odd floats."""
    store = LocalTaskStore(home, segment_bytes=6 * KIB)
    build_task(store, 90, task_id=task_id, big={40: 2 * KIB})
    writer = store.open_writer(task_id)
    seq = writer.next_seq
    writer.append(
        [
            ModelResponded(
                seq=seq,
                ts=iso(seq),
                message={
                    "role": "assistant",
                    "content": 'naïve ✓ 日本語 "q" \\ \n',
                    "raw": b"\x00",
                    "n": [2**63 - 1, -(2**63)],
                },
                usage={"input_tokens": 7, "output_tokens": 5},
                model="m",
                latency_s=1e-7,
                cost_usd=1e300,
            ),
            ToolCompleted(seq=seq + 1, ts=iso(seq + 1), call_id="c", output="πολύ\u2028καλό"),
            TaskFinished(seq=seq + 2, ts=iso(seq + 2), outcome="succeeded", answer="δ"),
        ],
        sync=True,
    )
    writer.close()
    return store


@pytest.fixture
def store(agentrun_home: Path) -> LocalTaskStore:
    return long_task(agentrun_home)


def test_log_json_prints_the_same_bytes_as_one_dumps_per_event(cli, store) -> None:
    assert len(list(Path(store.task_dir("t-json"), "log").glob("*.seg"))) >= 4
    result = cli("log", "t-json", "--json")
    assert result.code == 0
    assert result.out == reference(store, "t-json")


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (["--from", "30", "--to", "61"], {"first": 30, "last": 61}),
        (["--from", "93"], {"first": 93}),
        (["--to", "1"], {"last": 1}),
        (
            ["--kind", "tool_completed", "--kind", "task_finished"],
            {"kinds": ("tool_completed", "task_finished")},
        ),
        (["--grep", "ΠΟΛΎ"], {"needle": "πολύ"}),
        (
            ["--grep", "MODULE_4", "--kind", "tool_intended", "--to", "50"],
            {"needle": "module_4", "kinds": ("tool_intended",), "last": 50},
        ),
    ],
)
def test_log_json_filters_print_what_one_dumps_per_shown_event_printed(
    cli, store, args: list[str], options: dict[str, Any]
) -> None:
    assert cli("log", "t-json", *args, "--json").out == reference(store, "t-json", **options)


def test_a_search_of_every_task_prefixes_each_line_with_its_task(cli, store, agentrun_home) -> None:
    long_task(agentrun_home, "t-other")
    out = cli("log", "--grep", "naïve", "--json").out
    expected = reference(store, "t-json", needle="naïve", prefix="t-json")
    expected += reference(store, "t-other", needle="naïve", prefix="t-other")
    assert out == expected and out.count("\n") == 2


def test_export_prints_every_event_as_one_dumps_line(cli, store) -> None:
    assert cli("export", "t-json").out == reference(store, "t-json")


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, "x"], "b": {"c": "naïve ✓"}},
        b"\x00\xff",
        "just a string",
        [float("nan"), float("inf"), -0.0, 1e-320],
        {"big": 2**80, "neg": -(2**70)},
        [],
        {},
    ],
)
def test_the_reusable_encoder_is_json_dumps(value: Any) -> None:
    assert json_encoder()(value) == json.dumps(value, ensure_ascii=False, default=str)


def test_a_log_of_realistic_events_prints_identically_at_every_from_and_to(cli, store) -> None:
    rng = random.Random(3)
    for _ in range(6):
        first = rng.randint(1, 93)
        last = rng.randint(first, 93)
        out = cli("log", "t-json", "--from", first, "--to", last, "--json").out
        assert out == reference(store, "t-json", first=first, last=last), (first, last)


def test_a_segment_of_thousands_of_events_prints_whole_across_writes(cli, agentrun_home) -> None:
    store = LocalTaskStore(agentrun_home)
    build_task(store, 4500, task_id="t-big", batch=500)
    assert len(list(Path(store.task_dir("t-big"), "log").glob("*.seg"))) == 1
    assert cli("log", "t-big", "--json").out == reference(store, "t-big")
