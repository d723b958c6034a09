"""Secrets never reach the home, `export` or an error, even with `--debug` (style.md).

A real ``agentrun --debug start`` talks to a local HTTP endpoint on 127.0.0.1 with API keys and
another secret in its environment. The endpoint either rejects the key with 401 and *echoes it
back* in the error body (the worst case of a server quoting what it got), or answers normally.
The key must have reached the endpoint (so the test proves something), and afterwards no file
under the home, no line of ``export``/``log --json``/``show --json``, and nothing on stdout or
stderr (tracebacks included) holds any of the secrets.

Workspace confinement (tools cannot read or write outside the workspace, symlinks included) is
tested in ``tests/tools/test_workspace.py``, ``tests/tools/test_files.py`` and
``tests/runtime/test_workspace_escape.py``; the shell tool's environment without provider keys in
``tests/tools/test_shell.py``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.reliability.harness import visible_tasks


class Endpoint:
    """A local model endpoint: 401 echoing the credentials back, or a plain answer."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.seen_credentials: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                credential = self.headers.get("authorization") or self.headers.get("x-api-key")
                endpoint.seen_credentials.append(credential or "")
                if endpoint.mode == "reject":
                    status, body = (
                        401,
                        {
                            "error": {
                                "type": "authentication_error",
                                "message": f"Incorrect API key provided: {credential}. "
                                f"Raw header was {credential!r}",
                            }
                        },
                    )
                else:
                    status, body = (
                        200,
                        {
                            "model": "gpt-test",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": "all done"},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
                        },
                    )
                data = json.dumps(body).encode()
                content_type = "application/json"
                if endpoint.mode == "html":  # a wrong base URL: some web page answers
                    data, content_type = f"<html>{credential}</html>".encode(), "text/html"
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Endpoint:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def secret_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {
        "OPENAI_API_KEY": f"sk-test-{secrets.token_hex(20)}",
        "ANTHROPIC_API_KEY": f"sk-ant-test-{secrets.token_hex(20)}",
        "AGENTRUN_TEST_SECRET": f"secret-{secrets.token_hex(16)}",
        "AGENTRUN_HOME": str(tmp_path / "home"),
    }


def agentrun(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrun", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def leaks(env: dict[str, str], texts: dict[str, str | bytes]) -> list[str]:
    """Where any secret (or its random core) appears."""
    found = []
    for name, value in env.items():
        if name == "AGENTRUN_HOME":
            continue
        core = value.split("-")[-1]
        for where, text in texts.items():
            data = text.encode() if isinstance(text, str) else text
            if value.encode() in data or core.encode() in data:
                found.append(f"{name} in {where}")
    return found


def home_files(home: Path) -> dict[str, str | bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("provider", "mode"),
    [("openai", "reject"), ("anthropic", "reject"), ("openai", "answer")],
    ids=["openai-401", "anthropic-401", "openai-ok"],
)
def test_no_secret_reaches_the_home_export_or_an_error(
    provider: str, mode: str, tmp_path: Path, secret_env: dict[str, str]
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    home = Path(secret_env["AGENTRUN_HOME"])
    with Endpoint(mode) as endpoint:
        base = endpoint.url if provider == "anthropic" else f"{endpoint.url}/v1"
        started = agentrun(
            "--debug",
            "start",
            "--model",
            f"{provider}:test-model",
            "--base-url",
            base,
            "-q",
            "say done",
            env=secret_env,
            cwd=workspace,
        )
    key = secret_env["OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"]
    assert any(key in c for c in endpoint.seen_credentials), "the key never reached the endpoint"
    if mode == "reject":
        assert started.returncode == 1, started.stderr
        assert "401" in started.stderr and "[redacted]" in started.stderr, started.stderr
        assert "Traceback" in started.stderr  # --debug: the traceback was searched too
    else:
        assert started.returncode == 0, started.stderr
    texts: dict[str, str | bytes] = {"stdout": started.stdout, "stderr": started.stderr}
    texts.update(home_files(home))
    (task_id,) = visible_tasks(home)
    for command in (["export", task_id], ["log", task_id, "--json"], ["show", task_id, "--json"]):
        shown = agentrun(*command, env=secret_env, cwd=workspace)
        assert shown.returncode == 0, shown.stderr
        texts[" ".join(command[:1])] = shown.stdout + shown.stderr
    assert not leaks(secret_env, texts), leaks(secret_env, texts)
    assert len(texts) > 6  # segments, snapshot, summary, lock … were all searched


@pytest.mark.parametrize("mode", ["reject", "html"])
def test_a_password_in_the_base_url_reaches_no_file_and_no_message(
    mode: str, tmp_path: Path, secret_env: dict[str, str]
) -> None:
    # httpx sends a URL's user and password as basic credentials; errors quote the URL. Such a
    # URL comes from the environment: `--base-url` is kept with the task and refuses one.
    workspace = tmp_path / "ws"
    workspace.mkdir()
    home = Path(secret_env["AGENTRUN_HOME"])
    password = f"pw-{secrets.token_hex(12)}"
    basic = base64.b64encode(f"bob:{password}".encode()).decode()
    with Endpoint(mode) as endpoint:
        base = endpoint.url.replace("http://", f"http://bob:{password}@") + "/v1"
        started = agentrun(
            "--debug",
            "start",
            "--model",
            "openai:m",
            "-q",
            "hi",
            env={**secret_env, "OPENAI_BASE_URL": base},
            cwd=workspace,
        )
    assert any(basic in c for c in endpoint.seen_credentials), "the password was never sent"
    assert started.returncode == 1, started.stderr
    if mode == "html":  # this message quotes the URL
        assert "http://[redacted]@127.0.0.1" in started.stderr, started.stderr
    texts: dict[str, str | bytes] = {"stdout": started.stdout, "stderr": started.stderr}
    texts.update(home_files(home))
    (task_id,) = visible_tasks(home)
    shown = agentrun("export", task_id, env=secret_env, cwd=workspace)
    texts["export"] = shown.stdout + shown.stderr
    for where, text in texts.items():
        data = text.encode() if isinstance(text, str) else text
        assert password.encode() not in data and basic.encode() not in data, where
