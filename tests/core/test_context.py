"""Context compaction as a pure function (issue: the context window as a managed resource)."""

from __future__ import annotations

from agentrun.core.context import cap_tool_output, context_view, plan_compaction
from agentrun.core.tokens import estimate_tokens, messages_tokens


def conversation(turns: int, output_chars: int = 5000) -> list[dict]:
    messages = []
    for n in range(turns):
        call = {"id": f"c{n}", "name": "blob", "arguments": {"index": n}}
        messages.append(
            {"role": "assistant", "content": f"turn {n}", "tool_calls": [call], "seq": 2 * n + 3}
        )
        messages.append(
            {
                "role": "tool",
                "content": str(n) * output_chars,
                "tool_call_id": f"c{n}",
                "name": "blob",
                "seq": 2 * n + 4,
            }
        )
    return messages


def apply(messages: list[dict], compacted: dict, replacements: list[dict]) -> dict:
    updated = dict(compacted)
    for r in replacements:
        updated[str(r["index"])] = r["message"]
    return updated


def test_nothing_is_compacted_while_the_prompt_fits() -> None:
    messages = conversation(2, 100)
    assert plan_compaction(messages, {}, fixed_tokens=10, max_tokens=10_000) is None


def test_old_tool_outputs_are_shortened_first_and_the_latest_turn_is_kept_whole() -> None:
    messages = conversation(4)
    replacements, before, after = plan_compaction(messages, {}, fixed_tokens=50, max_tokens=3000)
    assert before > 3000 >= after
    shortened = {r["index"] for r in replacements}
    assert shortened <= {1, 3, 5}  # tool outputs of the older turns only
    assert 7 not in shortened and 6 not in shortened  # the latest turn
    first = next(r for r in replacements if r["index"] == 1)
    assert "recall(message=2)" in first["message"]["content"]
    assert first["seq"] == 4  # the event that holds the original
    assert first["message"]["content"].startswith("0" * 100)  # head of turn 0 output


def test_oldest_turns_are_dropped_when_shortening_is_not_enough() -> None:
    messages = conversation(30, 2000)
    replacements, _before, after = plan_compaction(messages, {}, fixed_tokens=50, max_tokens=2500)
    assert after <= 2500
    compacted = apply(messages, {}, replacements)
    view = context_view(messages, compacted)
    marker = next(m for m in view if m.get("marker"))
    assert marker["role"] == "user" and "recall(message=N)" in marker["content"]
    first, last = marker["dropped"]
    assert first == 1 and last >= 2
    assert view[-2:] == messages[-2:]  # latest turn untouched
    # Tool results never lose the call they answer.
    for position, message in enumerate(view):
        if message["role"] == "tool":
            assert view[position - 1]["role"] in ("assistant", "tool")


def test_planning_again_after_applying_a_plan_changes_nothing() -> None:
    messages = conversation(30, 2000)
    replacements, _b, _a = plan_compaction(messages, {}, fixed_tokens=50, max_tokens=2500)
    compacted = apply(messages, {}, replacements)
    assert plan_compaction(messages, compacted, fixed_tokens=50, max_tokens=2500) is None


def test_growing_conversations_stay_under_budget_turn_after_turn() -> None:
    compacted: dict = {}
    messages: list[dict] = []
    for n in range(200):
        messages += conversation(1, 5000)
        messages[-2]["seq"], messages[-1]["seq"] = 2 * n + 3, 2 * n + 4
        plan = plan_compaction(messages, compacted, fixed_tokens=300, max_tokens=8000)
        if plan is not None:
            compacted = apply(messages, compacted, plan[0])
        assert 300 + messages_tokens(context_view(messages, compacted)) <= 8000


def test_a_huge_tool_output_enters_the_context_capped() -> None:
    text = "x" * 100_000
    capped = cap_tool_output(text, 7, cap_tokens=1000)
    assert estimate_tokens(capped) <= 1100 and "recall(message=7)" in capped
    assert cap_tool_output("small", 7, cap_tokens=1000) == "small"
