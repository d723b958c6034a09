"""The agent loop as a durable run of one task (design §5, §9; rules 25-30).

Model turn → ``model_responded`` (durable, sharing one write with the first intent) → for each
tool call: ``tool_intended`` (durable before a side effect starts) → run → ``tool_completed``.
A read runs while its turn is flushed, and the next turn is asked for while a side effect's
result is flushed; no tool that changes anything runs before the log is known good.
Resume is the same loop started on a folded state: completed work is replayed from the log,
never re-run; an unrecorded model turn is requested again; an intent without completion is
settled by effect class, ``reconcile``, the user's flags or ``[policy] on_unknown``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentrun import __version__
from agentrun.core.context import plan_compaction
from agentrun.core.conversation import INVALID_ARGUMENTS_KEY, Message, ModelRequest
from agentrun.core.errors import (
    EXIT_FAILED,
    EXIT_NEEDS_ATTENTION,
    EXIT_OK,
    EXIT_PAUSED,
    AgentrunError,
    ModelResponseError,
    ModelStoppedError,
    RecordTooLargeError,
    SpecError,
    StorageError,
    ToolArgumentError,
)
from agentrun.core.events import (
    CancelRequested,
    ContextCompacted,
    Event,
    ModelResponded,
    RunStarted,
    RunStopped,
    TaskFinished,
    ToolCompleted,
    ToolIntended,
    ToolResolved,
)
from agentrun.core.state import (
    CALL_APPROVED,
    CALL_INTENDED,
    CALL_REQUESTED,
    RUNNING,
    SUCCEEDED,
    State,
)
from agentrun.core.tokens import estimate_tokens, tools_tokens
from agentrun.models.options import ModelOptions
from agentrun.runtime.budgets import check_budgets, turn_cost
from agentrun.runtime.check import run_check
from agentrun.runtime.reporter import Reporter
from agentrun.runtime.signals import StopFlag
from agentrun.runtime.spec import DEFAULT_MAX_ATTEMPTS, AgentSpec
from agentrun.store.crashpoints import crash_point
from agentrun.store.local import LocalTaskStore

OUTPUT_INLINE_LIMIT = 256 * 1024
# How often the loop looks for a cancel request (a stat of a file): at most every 50 ms, and
# at the first safe point of a run. Steps of a real model take longer, so each one looks.
CANCEL_POLL_S = 0.05
FINISH_TOOL = "finish"
RECALL_TOOL = "recall"
DEDUP_WINDOW_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How this run should behave beyond what the agent spec says."""

    unknown: str | None = None  # "retry" or "skip" from the user's flags; None: the policy decides
    budget: dict[str, Any] = field(default_factory=dict)  # limits raised for this and later runs
    deadline: float | None = None  # time.monotonic() by which the run stops at a safe point
    model_options: Any = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended: the exit code of design §8, the task's status, and a line for people."""

    task_id: str
    exit_code: int
    status: str
    message: str
    ran: bool = True  # False when the task had already finished: nothing was done


def now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds, the log's timestamp format.

    The same text as ``datetime.now(UTC).isoformat(timespec="microseconds")`` at a third of
    the cost: the date and time of day are formatted once per second, not three times a step.
    """
    global _formatted_second
    second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    cached = _formatted_second
    if cached[0] != second:
        text = datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat()
        cached = _formatted_second = (second, text)
    return f"{cached[1]}.{nanoseconds // 1000:06d}+00:00"


# (a second since the epoch, its "YYYY-MM-DDTHH:MM:SS"), replaced as one tuple so that a thread
# never pairs one second's text with another second.
_formatted_second: tuple[int, str] = (-1, "")


class Runner:
    """Runs one task until it finishes, pauses, needs a person, or is stopped."""

    def __init__(
        self,
        store: LocalTaskStore,
        task_id: str,
        reporter: Reporter,
        options: RunOptions | None = None,
        stop: StopFlag | None = None,
    ) -> None:
        self.store, self.task_id, self.reporter = store, task_id, reporter
        self.options = options or RunOptions()
        self.stop = stop or StopFlag()
        self._intended_here: set[str] = set()
        self._promised: str | None = None  # intent written with its model turn, tool not run yet
        self._context_cache = _ContextCache()
        self._workspace: Path | None = None
        self._next_cancel_poll = 0.0
        self._tool_specs: tuple[Any, ...] = ()
        self._invoke: Any = None  # agentrun.tools.invoke.invoke, once the agent is loaded
        self._tool_context: Any = None  # agentrun.tools.context.ToolContext, likewise

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Claim and run the task; raises ``ClaimedError``, ``CorruptLogError``, ``StorageError``.

        A model or tool-loading error is recorded as ``run_stopped`` (resumable), then raised.
        """
        writer = self.store.open_writer(self.task_id)
        self.writer = writer
        for warning in dict.fromkeys(self.store.warnings):  # e.g. a home others can read (rule 1)
            self.reporter.warning(warning)
        self.store.warnings.clear()
        try:
            result = self._run()
        except StorageError:
            writer.abandon()  # rule 8: nothing more is written after an I/O failure
            raise
        except AgentrunError as exc:
            usage = getattr(exc, "usage", None) or {}  # a refused reply, paid all the same
            try:
                self._emit(
                    RunStopped,
                    sync=True,
                    reason="error",
                    detail=str(exc),
                    exit_code=exc.exit_code,
                    usage=usage,
                    cost_usd=turn_cost(usage, AgentSpec.from_dict(self.state.agent).budget)
                    if usage
                    else None,
                )
            except BaseException:  # e.g. the flush before it failed: release all the same
                writer.abandon()
                raise
            writer.close()
            raise
        except BaseException:
            writer.abandon()
            raise
        writer.close()
        return result

    @property
    def state(self) -> State:
        return self.writer.state

    def _run(self) -> RunResult:
        state = self.state
        if state.is_finished:
            return replace(self._result(f"task already {state.status}"), ran=False)
        spec = AgentSpec.from_dict(state.agent)
        budget = {**spec.budget, **self.options.budget}
        if state.status == RUNNING:
            max_attempts = int(budget.get("max_attempts", DEFAULT_MAX_ATTEMPTS))
            if state.crashes + 1 >= max_attempts:
                crashed = state.crashes + 1
                runs = "1 run" if crashed == 1 else f"{crashed} runs"
                return self._finish(
                    "failed",
                    f"{runs} crashed before finishing (last at step "
                    f"{state.steps}, event {state.last_seq}); max_attempts is {max_attempts}",
                    spec,
                    check=False,
                )
        recovery = list(self.writer.recovery) + self._drift(spec)
        for note in recovery:
            self.reporter.warning(_describe_recovery(note))
        self._emit(
            RunStarted,
            sync=True,
            pid=os.getpid(),
            host=socket.gethostname(),
            version=__version__,
            attempt=state.attempts + 1,
            recovery=recovery,
            budget=self.options.budget,
        )
        spec = AgentSpec.from_dict(self.state.agent)  # with raised budgets folded in
        # After run_started: a failure to load is this run's end (run_stopped), not a crash.
        if not Path(spec.workspace).is_dir():
            raise SpecError(
                f"workspace {spec.workspace} is not a directory any more; restore it, then "
                f"`agentrun resume {self.task_id}`"
            )
        toolbox, model = self._load_agent(spec)
        while True:
            if self._promised is not None:
                # The model turn's write carried this call's intent (group commit): a promise
                # to run the tool, so no stop or cancel may come in between (design §9, rule 29).
                promised = self.state.calls[self._promised]
                self._promised = None
                if promised["status"] == CALL_INTENDED:
                    self._settle(promised, spec, toolbox)
                continue
            requested_by = self._poll_cancel_request()
            if requested_by is not None and not self.state.cancel_requested:
                self._emit(CancelRequested, sync=False, by=requested_by)
            state = self.state
            if state.cancel_requested:
                result = self._finish("cancelled", "cancelled on request", spec, check=False)
                self.writer.forget_cancel_request()
                return result
            if self.stop.is_set:
                return self._stop("signal", f"stopped by {self.stop.name}", self.stop.exit_code)
            if self.options.deadline is not None and time.monotonic() >= self.options.deadline:
                return self._stop("deadline", "the batch time budget ran out", EXIT_PAUSED)
            pending = state.pending_calls()
            if pending:
                stopped = self._settle(pending[0], spec, toolbox)
                if stopped is not None:
                    return stopped
                continue
            final = _final_answer(state)
            if final is not None:
                return self._finish(final[0], final[1], spec, check=True)
            reached = check_budgets(state, spec.budget)
            if reached is not None:
                return self._stop(reached.reason, reached.message, EXIT_PAUSED)
            self._model_turn(spec, toolbox, model)

    def _poll_cancel_request(self) -> str | None:
        """Who asked to cancel, looking at most every ``CANCEL_POLL_S`` (a stat per look)."""
        now = time.monotonic()
        if now < self._next_cancel_poll:
            return None
        self._next_cancel_poll = now + CANCEL_POLL_S
        return self.writer.take_cancel_request()

    def _load_agent(self, spec: AgentSpec) -> tuple[Any, Any]:
        from agentrun.models.registry import resolve_model
        from agentrun.runtime.recall import make_recall
        from agentrun.tools.context import ToolContext
        from agentrun.tools.invoke import invoke
        from agentrun.tools.loader import load_toolbox
        from agentrun.tools.registry import Toolbox, make_tool

        # Imported here, not at the top (they pull in asyncio), and kept: an import statement in
        # a function costs about a microsecond per step.
        self._invoke, self._tool_context = invoke, ToolContext
        toolbox = load_toolbox(spec.tools, base_dir=Path(spec.base_dir))
        if RECALL_TOOL not in toolbox:
            recall = make_recall(self.store, lambda: self.state)
            toolbox = Toolbox([*toolbox.tools(), make_tool(recall)])
        self._tool_specs = toolbox.specs()  # the same every turn of the run
        model = resolve_model(
            spec.model, base_dir=Path(spec.base_dir), options=self._model_options(spec)
        )
        return toolbox, model

    def _model_options(self, spec: AgentSpec) -> ModelOptions:
        """The run's model options, with waits that end when the run is asked to stop (§9).

        The endpoint: this run's (``resume --base-url``), else the one kept with the task.
        """
        options = self.options.model_options or ModelOptions()
        if options.base_url is None and spec.base_url:
            options = replace(options, base_url=spec.base_url)
        sleep = self.stop.sleep if options.sleep is time.sleep else options.sleep  # keep a fake
        return replace(options, sleep=sleep, stopped=lambda: self.stop.is_set)

    # -- a model turn ------------------------------------------------------------------------

    def _model_turn(self, spec: AgentSpec, toolbox: Any, model: Any) -> None:
        try:
            self._compact(spec, toolbox, model)
            state = self.state
            request = ModelRequest(
                messages=self._context_cache.build(spec, state),
                tools=self._tool_specs,
                turn=state.steps,
            )
            reply = model.complete(request, on_text=self.reporter.text)
        except ModelStoppedError:
            return  # this turn is not recorded; the loop stops at its next check (design §9)
        message = _unique_call_ids(reply.message.to_dict())
        usage = reply.usage.to_dict()
        responded = ModelResponded(
            seq=self.writer.next_seq,
            ts=now_iso(),
            message=message,
            usage=usage,
            model=reply.model,
            latency_s=round(reply.latency_s, 6),
            cost_usd=turn_cost(usage, spec.budget),
        )
        events: list[Event] = [responded]
        calls = message.get("tool_calls") or []
        first = calls[0] if calls else None
        sync, overlap = True, False
        if first is not None and self._runs_without_asking(first, spec, toolbox):
            # Group commit (design §4): the turn and the first intent share one write and fsync.
            intent = self._intent_event(first, toolbox, seq=responded.seq + 1)
            events.append(intent)
            if spec.fsync == "batch" and intent.effect != "side_effect":
                sync = False
            # A read has nothing to repeat or undo: it runs while the disk flushes the turn,
            # and anything that depends on the turn being durable waits (docs/decisions.md).
            overlap = sync and intent.effect == "read"
            if not sync and intent.effect != "read":
                # Unsynced (batch), an idempotent call runs right after this write: only on a
                # log known good, like every call that changes something (``_settle``).
                self.writer.wait_for_sync()
        try:
            self._append(events, sync=sync and not overlap, begin_sync=overlap)
        except RecordTooLargeError as exc:
            raise ModelResponseError(
                f"the model's reply is {exc.size:,} bytes, more than the {exc.limit:,} a log "
                "record holds, so it was not recorded; ask for shorter answers (the system prompt "
                "or the model's output limit), then resume",
                usage=usage,
            ) from None
        if len(events) > 1:
            self._intended_here.add(first["id"])
            self._promised = first["id"]

    def _compact(self, spec: AgentSpec, toolbox: Any, model: Any) -> None:
        """Shrink the context under ``[context] max_tokens`` before a turn (``core.context``).

        A pure function of the state decides, so a resumed run compacts identically; the event
        needs no sync of its own (if lost, the same compaction is planned again).
        """
        max_tokens = spec.context.get("max_tokens")
        if not max_tokens:
            return
        state = self.state
        fixed = estimate_tokens(spec.system) + estimate_tokens(state.goal) + 8
        fixed += tools_tokens(t.to_dict() for t in self._tool_specs)
        plan = plan_compaction(
            state.messages, state.compacted, fixed_tokens=fixed, max_tokens=int(max_tokens)
        )
        if plan is None:
            return
        replacements, before, after = plan
        usage: dict[str, Any] = {}
        if spec.context.get("summarize"):
            replacements, after, usage = self._summarize(
                spec, model, replacements, after, int(max_tokens)
            )
        self._emit(
            ContextCompacted,
            sync=False,
            replacements=replacements,
            tokens_before=before,
            tokens_after=after,
            usage=usage,
            cost_usd=turn_cost(usage, spec.budget) if usage else None,
        )

    def _summarize(
        self,
        spec: AgentSpec,
        model: Any,
        replacements: list[dict[str, Any]],
        after: int,
        max_tokens: int,
    ) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
        """Let the task's model write the marker of the dropped turns (``[context] summarize``)."""
        from agentrun.runtime.summarize import summary_request, with_summary

        position = next(
            (i for i, r in enumerate(replacements) if (r["message"] or {}).get("marker")), None
        )
        if position is None:
            return replacements, after, {}
        state = self.state
        marker_replacement = replacements[position]
        index = marker_replacement["index"]
        previous = state.compacted.get(str(index))
        was_marker = bool(previous and previous.get("marker"))
        dropped = [state.messages[r["index"]] for r in replacements if r["message"] is None]
        if not was_marker:
            dropped.insert(0, state.messages[index])
        request = summary_request(
            dropped,
            previous.get("summary") if was_marker and previous else None,
            turn=state.steps,
            max_output_tokens=max(100, min(1000, max_tokens // 10)),
        )
        reply = model.complete(request)
        marker, after = with_summary(
            marker_replacement["message"],
            reply.message.content,
            tokens_after=after,
            max_tokens=max_tokens,
        )
        updated = list(replacements)
        updated[position] = {**marker_replacement, "message": marker}
        return updated, after, reply.usage.to_dict()

    def _runs_without_asking(self, call: dict[str, Any], spec: AgentSpec, toolbox: Any) -> bool:
        if self.stop.is_set or call["name"] in spec.approve or call["name"] not in toolbox:
            return False
        return not _has_invalid_arguments(call.get("arguments") or {})

    # -- settling one call -------------------------------------------------------------------

    def _settle(self, call: dict[str, Any], spec: AgentSpec, toolbox: Any) -> RunResult | None:
        call_id, status = call["call_id"], call["status"]
        tool = toolbox[call["tool"]] if call["tool"] in toolbox else None  # noqa: SIM401
        if status == CALL_INTENDED and call_id not in self._intended_here:
            return self._settle_in_doubt(call, spec, tool)
        if status == CALL_INTENDED:
            self._run_tool(call, tool)
            return None
        if self.stop.is_set:
            return self._stop("signal", f"stopped by {self.stop.name}", self.stop.exit_code)
        if tool is None or _has_invalid_arguments(call["arguments"]):
            self._refuse(call, toolbox)
            return None
        if status == CALL_REQUESTED and tool.name in spec.approve and not call["approved"]:
            decision = self.reporter.ask_approval(call)
            if decision is None and self.stop.is_set:  # Ctrl-C at the prompt: stop, not ask
                return self._stop("signal", f"stopped by {self.stop.name}", self.stop.exit_code)
            if decision is None:
                return self._stop(
                    "needs_attention",
                    f"call {call_id} ({tool.name}) needs approval: `agentrun resolve "
                    f"{self.task_id} {call_id} --approve` or `--deny`, then "
                    f"`agentrun resume {self.task_id}`",
                    EXIT_NEEDS_ATTENTION,
                )
            # The decision is durable before the intent, so a resume never asks twice.
            self._emit(
                ToolResolved,
                sync=True,
                call_id=call_id,
                decision="approved" if decision else "denied",
                by="user",
            )
            return None
        if status in (CALL_REQUESTED, CALL_APPROVED):
            intent = self._intent_event(call, toolbox, seq=self.writer.next_seq)
            if intent.effect != "read":
                # Only a read may run while its turn is being synced (``_model_turn``): the
                # intent of a tool that changes anything waits until the log is known good.
                self.writer.wait_for_sync()
            sync = intent.effect == "side_effect"  # rule 25; a read can safely run again
            self._append([intent], sync=sync)
            self._intended_here.add(call_id)
            self._run_tool(self.state.calls[call_id], tool)
        return None

    def _settle_in_doubt(
        self, call: dict[str, Any], spec: AgentSpec, tool: Any
    ) -> RunResult | None:
        call_id = call["call_id"]
        effect = call.get("effect") or "side_effect"
        if effect in ("read", "idempotent") and tool is not None:
            self._emit(ToolResolved, sync=False, call_id=call_id, decision="retried", by="runtime")
            return None
        if tool is not None and tool.reconcile is not None:
            from agentrun.tools.invoke import reconcile

            try:
                found = reconcile(tool, self._context(call))
            except Exception as exc:  # a broken reconcile must not guess: a person decides
                return self._stop(
                    "needs_attention",
                    f"call {call_id} ({call['tool']}) is in doubt and its reconcile function "
                    f"failed ({type(exc).__name__}: {exc}); settle it with `agentrun resolve "
                    f"{self.task_id} {call_id} --retry`, `--skip` or `--result JSON`",
                    EXIT_NEEDS_ATTENTION,
                )
            if found is None:
                self._emit(
                    ToolResolved, sync=True, call_id=call_id, decision="retried", by="reconcile"
                )
            else:
                self._emit(
                    ToolResolved,
                    sync=True,
                    call_id=call_id,
                    decision="reconciled",
                    by="reconcile",
                    output=found.output,
                )
            return None
        choice, by = (
            (self.options.unknown, "user") if self.options.unknown else (spec.on_unknown, "policy")
        )
        if choice == "retry":
            self._warn_if_old(call)
            self._emit(ToolResolved, sync=True, call_id=call_id, decision="retried", by=by)
            return None
        if choice == "skip":
            self._emit(ToolResolved, sync=True, call_id=call_id, decision="skipped", by=by)
            return None
        return self._stop(
            "needs_attention",
            f"call {call_id} ({call['tool']}) started but its outcome is unknown; check whether "
            f"it happened, then `agentrun resolve {self.task_id} {call_id} --retry`, `--skip` or "
            f"`--result JSON`, or `agentrun resume {self.task_id} --retry-unknown`",
            EXIT_NEEDS_ATTENTION,
        )

    def _refuse(self, call: dict[str, Any], toolbox: Any) -> None:
        """Tell the model its call was unusable; nothing ran, so nothing needs syncing."""
        arguments = call["arguments"]
        if call["tool"] not in toolbox:
            available = ", ".join(toolbox.names())
            message = f"error: unknown tool {call['tool']!r}; available: {available}"
        else:
            raw = next(iter(arguments.values()), "")
            message = f"error: the arguments were not a JSON object: {str(raw)[:200]}"
        self._emit(
            ToolCompleted, sync=False, call_id=call["call_id"], output=message, is_error=True
        )

    def _intent_event(self, call: dict[str, Any], toolbox: Any, *, seq: int) -> ToolIntended:
        call_id = call.get("call_id") or call["id"]
        tool = toolbox[call.get("tool") or call["name"]]
        # Rule 26: the key is fixed by the first intent, so every retry presents the same one.
        key = call.get("idempotency_key") or f"agentrun-{self.task_id}-{call_id}-{seq}"
        return ToolIntended(
            seq=seq,
            ts=now_iso(),
            call_id=call_id,
            tool=tool.name,
            arguments=call.get("arguments") or {},
            effect=tool.effect,
            idempotency_key=key,
        )

    def _context(self, call: dict[str, Any]) -> Any:
        if self._workspace is None:
            self._workspace = Path(AgentSpec.from_dict(self.state.agent).workspace)
        return self._tool_context(
            task_id=self.task_id,
            call_id=call["call_id"],
            workspace=self._workspace,
            idempotency_key=call.get("idempotency_key") or "",
            arguments=call["arguments"],
            stop=self.stop.event,
        )

    def _run_tool(self, call: dict[str, Any], tool: Any) -> None:
        ctx = self._context(call)
        crash_point("after_intent_sync_before_tool")
        started = time.monotonic()
        outcome = self._invoke(tool, call["arguments"], ctx)
        duration = time.monotonic() - started
        crash_point("during_tool")
        files = [self._file_change(change) for change in ctx.file_changes]
        output, blob = outcome.output, None
        # A character is at most 4 bytes of UTF-8: a short output needs no encoding to measure.
        is_short = len(output) * 4 <= OUTPUT_INLINE_LIMIT
        encoded = b"" if is_short else output.encode("utf-8", "surrogatepass")
        if len(encoded) > OUTPUT_INLINE_LIMIT:
            digest = self.writer.put_blob(encoded)
            blob = {"sha256": digest, "size": len(encoded)}
            half = OUTPUT_INLINE_LIMIT // 4
            output = (
                f"{output[:half]}\n[… {len(output) - 2 * half} characters omitted; the whole "
                f"output is blob {digest[:12]} …]\n{output[-half:]}"
            )
        crash_point("after_tool_before_completed")
        # A side effect's result starts its sync at once, and the next intent or model turn is
        # recorded only once it is durable; a read's may ride on the next sync (§4).
        self._emit(
            ToolCompleted,
            sync=False,
            begin_sync=call.get("effect") == "side_effect" or tool.effect == "side_effect",
            call_id=call["call_id"],
            output=output,
            is_error=outcome.is_error,
            duration_s=round(duration, 6),
            files=files,
            output_blob=blob,
        )

    def _file_change(self, change: Any) -> dict[str, Any]:
        blob = self.writer.put_blob(change.content) if change.content is not None else None
        return {
            "path": change.path,
            "before": change.before_sha256,
            "after": change.after_sha256,
            "blob": blob,
        }

    # -- ending ------------------------------------------------------------------------------

    def _finish(self, outcome: str, answer: str, spec: AgentSpec, *, check: bool) -> RunResult:
        result = None
        if check and outcome == SUCCEEDED and spec.check:
            self.writer.sync()
            result = run_check(spec.check, spec.workspace, stopped=lambda: self.stop.is_set)
            if result is None:  # stopped by a signal: the next resume runs the check again
                return self._stop(
                    "signal",
                    f"stopped by {self.stop.name} during the outcome check",
                    self.stop.exit_code,
                )
            if not result["passed"]:
                outcome = "failed"
        self._emit(TaskFinished, sync=True, outcome=outcome, answer=answer, check=result)
        if result is not None and not result["passed"]:
            code = result["exit_code"]
            ended = "timed out" if code == -1 else f"exited {code}"
            return self._result(
                f"the outcome check `{spec.check}` {ended}; the agent said: {answer}"
            )
        return self._result(answer)

    def _stop(self, reason: str, detail: str, exit_code: int) -> RunResult:
        self._emit(RunStopped, sync=True, reason=reason, detail=detail, exit_code=exit_code)
        return RunResult(self.task_id, exit_code, self.state.status, detail)

    def _result(self, message: str) -> RunResult:
        status = self.state.status
        code = EXIT_OK if status == SUCCEEDED else EXIT_FAILED
        return RunResult(self.task_id, code, status, message)

    # -- helpers -----------------------------------------------------------------------------

    def _emit(
        self, cls: type[Event], *, sync: bool, begin_sync: bool = False, **fields: Any
    ) -> None:
        event = cls(seq=self.writer.next_seq, ts=now_iso(), **fields)
        self._append([event], sync=sync, begin_sync=begin_sync)

    def _append(self, events: list[Event], *, sync: bool, begin_sync: bool = False) -> None:
        self.writer.append(events, sync=sync)
        if begin_sync:
            self.writer.begin_sync()
        for event in events:
            self.reporter.event(event)

    def _drift(self, spec: AgentSpec) -> list[dict[str, Any]]:
        """Files the task wrote that changed outside it since (design §5 "File state")."""
        notes: list[dict[str, Any]] = []
        root = Path(spec.workspace)
        if not root.is_dir():
            return notes  # the run stops on it right after run_started, saying so once
        for path, info in sorted(self.state.files.items()):
            try:
                found: str | None = hashlib.sha256((root / path).read_bytes()).hexdigest()
            except OSError:
                found = None
            if found != info.get("after"):
                notes.append({"drift": path, "expected": info.get("after"), "found": found})
        return notes

    def _warn_if_old(self, call: dict[str, Any]) -> None:
        # Rule 27: a receiver's dedup window (Stripe: 24 h) may have expired.
        intent_seq = call.get("intent_seq")
        if intent_seq is None:
            return
        for event in self.store.events(self.task_id, from_seq=intent_seq):
            age = (datetime.now(UTC) - datetime.fromisoformat(event.ts)).total_seconds()
            if age > DEDUP_WINDOW_S:
                self.reporter.warning(
                    f"call {call['call_id']} was intended {age / 3600:.0f} h ago; the remote side "
                    "may no longer deduplicate its idempotency key"
                )
            return


def build_messages(spec: AgentSpec, state: State) -> list[Message]:
    """The conversation sent to the model: system prompt, the goal, then the task's context."""
    return _head(spec, state) + [Message.from_dict(m) for m in state.context_messages()]


def _head(spec: AgentSpec, state: State) -> list[Message]:
    head = [Message(role="system", content=spec.system)] if spec.system else []
    return [*head, Message(role="user", content=state.goal)]


class _ContextCache:
    """``build_messages`` for a long run: converts each new message once, not once per turn.

    The context only grows between compactions; a compaction makes it start over. The head
    (system prompt, goal) is kept in the same list, so a turn copies the context once.
    """

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._seen = 0
        self._compactions = -1
        self._head_of: tuple[str, str] | None = None

    def build(self, spec: AgentSpec, state: State) -> tuple[Message, ...]:
        if (
            self._compactions != len(state.compactions)
            or self._seen > len(state.messages)
            or self._head_of != (spec.system, state.goal)
        ):
            self._messages = _head(spec, state)
            self._messages += [Message.from_dict(m) for m in state.context_messages()]
            self._compactions = len(state.compactions)
            self._head_of = (spec.system, state.goal)
        else:
            self._messages += [Message.from_dict(m) for m in state.messages[self._seen :]]
        self._seen = len(state.messages)
        return tuple(self._messages)


def _final_answer(state: State) -> tuple[str, str] | None:
    """``(outcome, answer)`` if the latest turn ended the task, else ``None``."""
    for message in reversed(state.messages):
        if message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls") or []
        if not calls:
            return SUCCEEDED, message.get("content") or ""
        for call in calls:
            if call["name"] != FINISH_TOOL:
                continue
            recorded = state.calls.get(call.get("id") or "") or {}
            # A finish whose arguments were refused (or a denied one) ended nothing: the model
            # was told why and gets another turn.
            if not recorded.get("is_error"):
                args = call.get("arguments") or {}
                outcome = (
                    args.get("outcome")
                    if args.get("outcome") in ("succeeded", "failed")
                    else SUCCEEDED
                )
                return outcome, str(args.get("summary", message.get("content") or ""))
        return None
    return None


def _unique_call_ids(message: dict[str, Any]) -> dict[str, Any]:
    """Give every tool call of a turn a distinct non-empty id (some local servers repeat them)."""
    calls = message.get("tool_calls") or []
    ids = [call.get("id") for call in calls]
    if all(ids) and len(set(ids)) == len(ids):
        return message  # the usual case: nothing to fix, nothing to copy
    seen: set[str] = set()
    fixed = []
    for index, call in enumerate(calls):
        call_id = call.get("id") or f"call_{index}"
        if call_id in seen:
            call_id = f"{call_id}-{index}"
        seen.add(call_id)
        fixed.append({**call, "id": call_id})
    return {**message, "tool_calls": fixed} if calls else message


def _has_invalid_arguments(arguments: dict[str, Any]) -> bool:
    return INVALID_ARGUMENTS_KEY in arguments


def _describe_recovery(note: dict[str, Any]) -> str:
    if note.get("repair") == "torn_tail":
        return (
            f"repaired a torn write at the end of the log: {note['bytes']} bytes of "
            f"{note['segment']} kept as {note['saved_as']}"
        )
    if "drift" in note:
        changed = "was deleted" if note.get("found") is None else "changed"
        return f"workspace drift: {note['drift']} {changed} outside the task since it wrote it"
    if "removed_leftovers" in note:
        return f"removed leftovers of an interrupted write: {', '.join(note['removed_leftovers'])}"
    return str(note)


__all__ = ["RunOptions", "RunResult", "Runner", "ToolArgumentError", "build_messages", "now_iso"]
