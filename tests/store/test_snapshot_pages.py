"""Snapshots keep the conversation in shared pages, so a snapshot stays small (rules 4, 18).

Pages are content-addressed files beside the snapshots, written before the snapshot that names
them; a snapshot inlines fewer than ``MIN_PAGE_ITEMS`` messages, each message is paged once, and
no page outlives the kept snapshots that name it. Loading a snapshot reads no page until the
conversation is read. A damaged page changes no answer: it is reported, and the messages come
from the log (INV-SNAPSHOT). ``PAGE_ITEMS`` and ``MIN_PAGE_ITEMS`` are made tiny here so small
logs have many pages, full and short.
"""

from __future__ import annotations

import random
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from agentrun.core import pages
from agentrun.core.codec import decode_cache, encode_value
from agentrun.core.events import TaskFinished
from agentrun.core.pages import PagedList
from agentrun.core.state import fold
from agentrun.store.local import LocalTaskStore
from agentrun.store.snapshots import MAGIC, PAGE_SUFFIX, list_snapshots
from agentrun.store.verify import verify_task
from tests.reliability.crashfs import MODES, CrashFS, SimulatedCrash
from tests.store.builders import build_task, event_at, iso, run_started, seed_from_env, tree_digest
from tests.store.conftest import CleanLogs
from tests.trials import trials

PAGE_ITEMS, MIN_PAGE_ITEMS = 4, 2
DAMAGE_TRIALS = trials(40, 2_000)


@pytest.fixture(autouse=True)
def tiny_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "PAGE_ITEMS", PAGE_ITEMS)
    monkeypatch.setattr(pages, "MIN_PAGE_ITEMS", MIN_PAGE_ITEMS)


def page_files(store: LocalTaskStore, task_id: str) -> dict[str, Path]:
    snap_dir = Path(store._snap_dir(task_id))
    return {p.name: p for p in snap_dir.iterdir() if p.name.endswith(PAGE_SUFFIX)}


def snapshot_body(path: str | Path) -> dict:
    data = Path(path).read_bytes()
    return decode_cache(data[len(MAGIC) + 4 :])


def rewrite_snapshot(path: str | Path, body: dict) -> None:
    """Replace a snapshot file's body, with a valid magic and CRC (``snapshot_body`` reads it)."""
    payload = encode_value(body)
    Path(path).write_bytes(MAGIC + struct.pack("<I", zlib.crc32(payload)) + payload)


def grow(store: LocalTaskStore, task_id: str, count: int, rng: random.Random) -> None:
    writer = store.open_writer(task_id)
    try:
        events = [run_started(writer.next_seq, attempt=writer.state.attempts + 1)]
        events += [event_at(writer.next_seq + i, rng) for i in range(1, count)]
        writer.append(events, sync=True)
    finally:
        writer.close(snapshot=True)


def named_pages(store: LocalTaskStore, task_id: str) -> set[str]:
    """The page files the task's kept snapshots name."""
    named = set()
    for path in list_snapshots(store.ops, store._snap_dir(task_id)):
        named |= {f"{digest}{PAGE_SUFFIX}" for digest, _n, _s in snapshot_body(path)["pages"]}
    return named


def test_a_snapshot_inlines_fewer_than_the_minimum_and_pages_each_message_once(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    task = build_task(store, 300, snapshot_at={40, 95, 170, 171, 250, 299})
    clean_logs(store, task.task_id)
    paged = 0
    for path in sorted(list_snapshots(store.ops, store._snap_dir(task.task_id))):
        body = snapshot_body(path)
        folded = fold(e for e in task.events if e.seq <= body["seq"]).messages
        counts = [count for _d, count, _s in body["pages"]]
        assert all(MIN_PAGE_ITEMS <= count <= PAGE_ITEMS for count in counts)
        assert len(body["state"]["messages"]) < MIN_PAGE_ITEMS  # the tail the file carries
        assert sum(counts) + len(body["state"]["messages"]) == len(folded)
        paged = sum(counts)
    # No message is in two pages: the page files hold exactly the paged messages.
    files = page_files(store, task.task_id)
    assert sum(len(decode_cache(p.read_bytes())) for p in files.values()) == paged
    assert set(files) == named_pages(store, task.task_id)
    assert store.load(task.task_id).state == fold(task.events)


def test_pages_cut_elsewhere_after_the_snapshots_are_gone_do_not_stay_behind(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    # The first snapshots page 3, then 5, … messages; folded again from the log, the
    # conversation is cut into pages of 4 from the start, so the old pages are named by nothing.
    store = LocalTaskStore(fast_home, snapshot_every=10**9)
    task = build_task(store, 40, snapshot_at={6, 14, 25, 39})
    clean_logs(store, task.task_id)
    before = set(page_files(store, task.task_id))
    for path in list_snapshots(store.ops, store._snap_dir(task.task_id)):
        Path(path).unlink()  # what `verify` tells a person to do: snapshots are a cache
    rng = random.Random(3)
    grow(store, task.task_id, 5, rng)
    assert before - set(page_files(store, task.task_id))  # some are gone already
    grow(store, task.task_id, 5, rng)  # the other kept snapshot now names the new cut too
    assert set(page_files(store, task.task_id)) == named_pages(store, task.task_id)
    assert store.load(task.task_id).state == fold(store.events(task.task_id))
    report = verify_task(store.ops, store.task_dir(task.task_id), task.task_id)
    assert not report.problems, report.problems


def test_loading_a_snapshot_reads_no_page_until_the_conversation_is_read(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    task = build_task(store, 200, snapshot_at={199})
    clean_logs(store, task.task_id)
    loaded = store.load(task.task_id)
    messages = loaded.state.messages
    assert loaded.snapshot_seq == 199 and isinstance(messages, PagedList)
    assert messages.pages and not any(p.is_loaded for p in messages.pages)
    expected = fold(task.events)
    assert (loaded.state.steps, loaded.state.last_seq) == (expected.steps, expected.last_seq)
    assert messages[-1] == expected.messages[-1]
    assert not any(p.is_loaded for p in messages.pages)  # the newest message is in the tail
    assert list(messages) == expected.messages


def test_a_new_snapshot_writes_only_the_pages_that_are_new(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    task = build_task(store, 120, snapshot_at={119})
    clean_logs(store, task.task_id)
    before = {name: tree_digest(p.parent)[name] for name, p in page_files(store, "t-build").items()}
    grow(store, task.task_id, 60, random.Random(1))  # opens from the paged snapshot
    after = page_files(store, task.task_id)
    assert set(before) < set(after)
    digest = tree_digest(next(iter(after.values())).parent)
    assert all(digest[name] == before[name] for name in before)  # not rewritten: same mtime
    assert store.load(task.task_id).state == fold(store.events(task.task_id))


def test_a_damaged_or_missing_page_changes_no_answer_and_verify_names_it(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    seed = seed_from_env(4100)
    rng = random.Random(seed)
    store = LocalTaskStore(fast_home, snapshot_every=10**9)
    task = build_task(store, 60, snapshot_at={59})
    clean_logs(store, task.task_id, snapshot_problems_ok=True)
    done = {"bit_flip": 0, "truncate": 0, "delete": 0}
    for trial in range(DAMAGE_TRIALS):
        grow(store, task.task_id, rng.randint(2, 12), rng)
        files = sorted(page_files(store, task.task_id).values())
        target = rng.choice(files)
        original = target.read_bytes()
        op = rng.choice(list(done))
        if op == "bit_flip":
            data = bytearray(original)
            bit = rng.randrange(len(data) * 8)
            data[bit // 8] ^= 1 << (bit % 8)
            target.write_bytes(bytes(data))
        elif op == "truncate":
            target.write_bytes(original[: rng.randrange(len(original))])
        else:
            target.unlink()
        done[op] += 1
        where = f"trial {trial} (seed {seed}) after {op} of {target.name}"
        store.warnings.clear()
        loaded = store.load(task.task_id)
        expected = fold(store.events(task.task_id))
        assert loaded.state == expected, where  # reads every page: damaged ones from the log
        named = {p.file for p in verify_task(store.ops, task.task_dir, task.task_id).problems}
        users = {
            f"snapshots/{Path(s).name}"
            for s in list_snapshots(store.ops, store._snap_dir(task.task_id))
            if target.name.removesuffix(PAGE_SUFFIX)
            in {d for d, _c, _s in snapshot_body(s)["pages"]}
        }
        assert named == users and users, where
        if op == "bit_flip":  # same size: found when the page is read
            assert any(target.name[:12] in w for w in store.warnings), where
        else:  # missing or the wrong size: found when the snapshot is checked
            assert loaded.ignored_snapshots, where
        target.write_bytes(original)  # repair, so damage never piles up across trials
    print(f"page damage seed={seed}: {done}")
    assert all(done.values()), done


def test_a_damaged_page_is_replaced_once_the_snapshots_naming_it_are_gone(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    task = build_task(store, 60, snapshot_at={59})
    clean_logs(store, task.task_id)
    target = sorted(page_files(store, task.task_id).values())[0]
    original = target.read_bytes()
    target.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    for path in list_snapshots(store.ops, store._snap_dir(task.task_id)):
        Path(path).unlink()  # what `verify` tells a person to do: snapshots are a cache
    grow(store, task.task_id, 3, random.Random(2))
    assert target.read_bytes() == original


def test_a_snapshot_of_an_older_format_is_ignored_without_being_called_damage(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    task = build_task(store, 40, snapshot_at={39})
    clean_logs(store, task.task_id, snapshot_problems_ok=True)
    (path,) = list_snapshots(store.ops, store._snap_dir(task.task_id))
    body = snapshot_body(path)
    old = {k: v for k, v in body.items() if k != "pages"} | {"format": 1}
    old["state"]["messages"] = fold(task.events).messages  # format 1 held the whole list
    rewrite_snapshot(path, old)
    loaded = store.load(task.task_id)
    assert loaded.snapshot_seq is None and loaded.ignored_snapshots
    assert loaded.state == fold(task.events)
    report = verify_task(store.ops, task.task_dir, task.task_id)
    assert report.is_ok and [p.is_corruption for p in report.problems] == [False]
    assert "next snapshot replaces it" in report.problems[0].reason


def test_squashing_a_finished_task_removes_its_pages(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    task = build_task(store, 60, snapshot_at={30, 59})
    clean_logs(store, task.task_id)
    expected = fold(task.events).messages
    writer = store.open_writer(task.task_id)
    try:
        finished = TaskFinished(seq=writer.next_seq, ts=iso(61), outcome="succeeded")
        writer.append([finished], sync=True)
        writer.squash()
    finally:
        writer.close()
    assert page_files(store, task.task_id) == {}
    assert list(store.load(task.task_id).state.messages) == expected


@pytest.mark.parametrize("mode", MODES)
def test_a_power_loss_while_pages_are_written_never_leaves_a_snapshot_without_them(
    fast_home: Path, mode: str
) -> None:
    """Rules 4-5: pages are durable before the snapshot that names them is renamed in."""
    built = LocalTaskStore(fast_home / "built")
    task = build_task(built, 90)
    expected = fold(task.events)
    points = 0
    for k in range(1, 1_000):
        home = fast_home / f"k{k}"
        shutil.copytree(fast_home / "built", home)
        fs = CrashFS(home, crash_at=k)
        try:
            writer = LocalTaskStore(home, ops=fs).open_writer(task.task_id)
            writer.snapshot()
            writer.close(snapshot=False)
        except SimulatedCrash:
            pass
        else:
            break  # the snapshot and the clean stop finished before the k-th sync point
        points += 1
        kept = fs.materialize(mode, random.Random(f"{mode}-{k}"))
        store = LocalTaskStore(home)
        loaded = store.load(task.task_id)
        assert loaded.state == expected, f"k={k}: {kept}"
        report = verify_task(store.ops, store.task_dir(task.task_id), task.task_id)
        assert not report.problems, f"k={k} ({kept}): {report.problems}"
        shutil.rmtree(home)
    assert points >= len(expected.messages) // PAGE_ITEMS  # every page write was cut


def test_a_snapshot_written_before_sums_were_rounded_loads_as_the_fold_gives_them(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    # Sums once added as plain floats (0.1 + 0.2 = 0.30000000000000004) read back rounded, so
    # an upgraded task neither folds its log again nor fails verify.
    store = LocalTaskStore(fast_home)
    task = build_task(store, 40, snapshot_at={39})
    clean_logs(store, task.task_id)
    (path,) = list_snapshots(store.ops, store._snap_dir(task.task_id))
    body = snapshot_body(path)
    expected = fold(task.events[:39])
    noisy = body["state"] | {
        "active_seconds": expected.active_seconds + 1e-12 * 0.3,
        "cost_usd": expected.cost_usd + 1e-14,
    }
    rewrite_snapshot(path, body | {"state": noisy})
    loaded = store.load(task.task_id)
    assert loaded.snapshot_seq == 39
    assert loaded.state == fold(task.events)
    assert verify_task(store.ops, task.task_dir, task.task_id).problems == []
