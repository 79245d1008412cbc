"""Tests of hearsay_client against real `hearsay agent` processes.

Run from the repository root:

    python3 -m unittest discover -s clients/python/tests -v

The agent binary is $HEARSAY_BIN, else <repo>/target/release/hearsay. The agents
listen on free ports of 127.0.0.1:24000-24999 and keep their data in temporary
directories; every agent started is stopped (SIGTERM, then SIGKILL) afterwards.
"""

from __future__ import annotations

import http.server
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))

from hearsay_client import Client, HearsayError  # noqa: E402

BIN = os.environ.get("HEARSAY_BIN") or str(REPO / "target" / "release" / "hearsay")
DIST = REPO / "modules" / "dist"
CONVERGE_S = 20.0  # generous deadline for gossip to converge
START_S = 15.0  # for an agent's API to answer

_taken: set[int] = set()


def free_port() -> int:
    """A port of 127.0.0.1:24000-24999 that nothing listens on now (bind test)."""
    candidates = list(range(24000, 25000))
    random.shuffle(candidates)
    for port in candidates:
        if port in _taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError("no free port in 127.0.0.1:24000-24999")


def wait_for(what: str, probe: Callable[[], Any], deadline_s: float = CONVERGE_S, every_s: float = 0.1) -> Any:
    """Call probe until it returns something truthy; fail after deadline_s.

    probe may raise HearsayError `not_running` (a module still loading) meanwhile;
    any other error ends the wait at once.
    """
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while True:
        try:
            last = probe()
            if last:
                return last
        except HearsayError as e:
            if e.kind != "not_running":
                raise
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(every_s)


class Agent:
    """One `hearsay agent` child process."""

    def __init__(
        self,
        root: Path,
        name: str,
        labels: dict[str, str],
        rendezvous: str | None,
        gossip_port: int | None = None,
        extra: list[str] | None = None,
        compile_cache: Path | None = None,
    ) -> None:
        self.name = name
        self.labels = labels
        self.data_dir = root / name
        self.data_dir.mkdir()
        self.gossip = f"127.0.0.1:{gossip_port or free_port()}"
        self.api = f"127.0.0.1:{free_port()}"
        self.log_path = root / f"{name}.log"
        args = [BIN, "agent", "--data-dir", str(self.data_dir), "--gossip", self.gossip, "--api", self.api,
                "--interval-ms", "100"]
        if rendezvous:
            args += ["--rendezvous", rendezvous]
        if compile_cache:
            args += ["--compile-cache", str(compile_cache)]
        for k, v in labels.items():
            args += ["--label", f"{k}={v}"]
        args += extra or []
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, token: str | None = None) -> None:
        """Wait until the API answers (any answer, even a refusal, means it's up)."""
        client = Client(self.api, token=token, timeout=2.0)
        deadline = time.monotonic() + START_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                client.status()
                return
            except HearsayError:
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"agent {self.name}'s API {self.api} did not answer in {START_S} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it hasn't exited within 5 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def read_module(name: str) -> bytes:
    return (DIST / f"{name}.wasm").read_bytes()


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary directory for agents' data, once the hearsay binary is known to exist."""
    if not os.access(BIN, os.X_OK):
        raise RuntimeError(f"no hearsay binary at {BIN}: set HEARSAY_BIN or build target/release/hearsay")
    return tempfile.TemporaryDirectory(prefix=prefix)


class ClusterTest(unittest.TestCase):
    """One cluster of 3 agents for every test of the class."""

    agents: list[Agent]
    clients: list[Client]
    membership_deployed = False

    @classmethod
    def setUpClass(cls) -> None:
        tmp = scratch_dir("hearsay-py-")
        cls.addClassCleanup(tmp.cleanup)
        root = Path(tmp.name)
        cache = root / "compile-cache"
        cache.mkdir()
        cls.agents = []
        p0 = free_port()
        roles = ["seed", "worker", "worker"]
        for i, role in enumerate(roles):
            agent = Agent(root, f"agent{i}", {"role": role, "zone": f"z{i}"}, rendezvous=f"127.0.0.1:{p0}",
                          gossip_port=p0 if i == 0 else None, compile_cache=cache)
            # Registered at once: class cleanups run even when setUpClass fails later.
            cls.addClassCleanup(agent.stop)
            cls.agents.append(agent)
        for agent in cls.agents:
            agent.wait_ready()
        cls.clients = [Client(a.api) for a in cls.agents]
        cls.membership_deployed = False

    def ensure_membership(self) -> None:
        """Deploy membership once for the class and wait until every agent sees 3 live."""
        cls = type(self)
        if cls.membership_deployed:
            return
        answer = self.clients[0].deploy("membership", read_module("membership"))
        self.assertEqual(answer["deployment"]["module"], "membership")
        self.wait_membership_live()
        cls.membership_deployed = True

    def wait_membership_live(self) -> None:
        gossip = {a.gossip for a in self.agents}
        for client in self.clients:
            wait_for(f"{client.api} to see 3 live members",
                     lambda: set(client.query("membership").get("live", [])) == gossip)

    # --- tests -------------------------------------------------------------

    def test_status_has_labels(self) -> None:
        for agent, client in zip(self.agents, self.clients):
            status = client.status()
            self.assertEqual(status["labels"], agent.labels)
            self.assertEqual(status["api_addr"], agent.api)
            self.assertEqual(status["gossip_addr"], agent.gossip)
            self.assertRegex(status["node_id"], r"^[0-9a-f]{16}$")
            self.assertIsInstance(status["modules"], list)

    def test_membership_three_live(self) -> None:
        self.ensure_membership()
        for client in self.clients:
            answer = client.query("membership")
            self.assertEqual(len(answer["live"]), 3, answer)
            self.assertIn(answer["self"], {a.gossip for a in self.agents})
            modules = {m["deployment"]["module"]: m for m in client.status()["modules"]}
            self.assertEqual(modules["membership"]["state"], "running")

    def test_members_with_labels(self) -> None:
        # Needs the `members` query of membership (ABI v2 labels).
        self.ensure_membership()
        expected = {a.gossip: a.labels for a in self.agents}
        for client in self.clients:
            def all_live() -> list[dict[str, Any]] | None:
                members = client.members()
                ok = (len(members) == 3 and {m["addr"] for m in members} == set(expected)
                      and all(m["state"] == "alive" for m in members))
                return members if ok else None

            members = wait_for(f"{client.api}'s members() to list 3 live", all_live)
            for m in members:
                self.assertEqual(m["labels"], expected[m["addr"]], m)
            workers = client.members(label="role=worker")
            self.assertEqual({m["addr"] for m in workers}, {a.gossip for a in self.agents[1:]})
            self.assertEqual([m["addr"] for m in client.members(label="zone=z0")], [self.agents[0].gossip])
            self.assertEqual(client.members(label="role=nobody"), [])

    def test_statecast_command_converges(self) -> None:
        # Needs statecast's `hearsay_command` (ABI v2).
        self.clients[0].deploy("statecast", read_module("statecast"))
        for client in self.clients:
            wait_for(f"statecast running at {client.api}", lambda: client.query("statecast") is not None)
        self.clients[0].command("statecast", '{"set":42}')
        for client in self.clients:
            wait_for(f"statecast value 42 at {client.api}", lambda: client.query("statecast").get("value") == 42)

    def test_events_deploy_adopted_then_started(self) -> None:
        self.ensure_membership()
        client = self.clients[0]
        with client.events(module="membership", timeout=CONVERGE_S) as stream:
            number = client.deploy("membership", read_module("membership"), params={"fanout": 2})["deployment"]["number"]
            adopted = started = None
            deadline = time.monotonic() + CONVERGE_S
            for event in stream:
                self.assertEqual(event.get("module"), "membership", event)
                data = event.get("data", {})
                if adopted is None and event["kind"] == "deployment_adopted":
                    if data.get("deployment", {}).get("number") == number:
                        adopted = event
                        self.assertIsNone(data.get("from"))
                        self.assertEqual(data["deployment"]["params"], '{"fanout":2}')
                elif adopted is not None and event["kind"] == "started" and data.get("number") == number:
                    started = event
                    break
                self.assertLess(time.monotonic(), deadline, "no started event in time")
            self.assertIsNotNone(adopted, "stream ended without deployment_adopted")
            self.assertIsNotNone(started, "stream ended without started")
            self.assertGreater(started["id"], adopted["id"])
            self.assertEqual(stream.last_id, str(started["id"]))
        self.assertTrue(stream.closed)

        # Resuming after the adopted event replays the started one first.
        with client.events(module="membership", kinds=["started"], after=adopted["id"], timeout=CONVERGE_S) as replay:
            first = next(replay)
            self.assertEqual(first["id"], started["id"])
            self.assertEqual(first["kind"], "started")
        self.wait_membership_live()

    def test_rollback_and_stop(self) -> None:
        client = self.clients[1]
        code = read_module("membership")
        first = client.deploy("scratch", code)["deployment"]
        second = client.deploy("scratch", code, params={"fanout": 2}, budget={"messages_per_s": 500})["deployment"]
        self.assertEqual(second["version"], first["version"])
        self.assertEqual(second["params"], '{"fanout":2}')
        self.assertNotEqual(second["number"], first["number"])
        back = client.rollback("scratch", to=first["version"][:12])["deployment"]
        self.assertEqual(back["version"], first["version"])
        self.assertNotEqual(back["number"], second["number"])
        stopped = client.stop("scratch")["deployment"]
        self.assertIsNone(stopped["version"])
        for c in self.clients:
            def gone() -> bool:
                try:
                    c.query("scratch")
                except HearsayError as e:
                    return e.kind == "not_running"
                return False

            wait_for(f"scratch stopped at {c.api}", gone)
        with self.assertRaises(HearsayError) as cm:
            client.rollback("never-deployed")
        self.assertEqual(cm.exception.kind, "unknown_module")
        with self.assertRaises(HearsayError) as cm:
            client.rollback("scratch", to="zz")
        self.assertEqual(cm.exception.kind, "bad_version")

    def test_metrics_text(self) -> None:
        text = self.clients[0].metrics()
        self.assertIn("hearsay_envelopes_in_total", text)
        self.assertIn("hearsay_api_errors_total", text)

    def test_error_invalid_wasm(self) -> None:
        with self.assertRaises(HearsayError) as cm:
            self.clients[0].deploy("garbage", b"this is not webassembly at all")
        self.assertEqual((cm.exception.status, cm.exception.kind), (400, "invalid_wasm"))
        self.assertTrue(cm.exception.message)

    def test_error_not_running(self) -> None:
        with self.assertRaises(HearsayError) as cm:
            self.clients[0].query("no-such-module")
        self.assertEqual((cm.exception.status, cm.exception.kind), (404, "not_running"))

    def test_error_invalid_module_name(self) -> None:
        for name in ["BAD", "../etc", "-dash", "a" * 65]:
            with self.subTest(name=name):
                with self.assertRaises(HearsayError) as cm:
                    self.clients[0].query(name)
                self.assertEqual((cm.exception.status, cm.exception.kind), (400, "invalid_module_name"))
        with self.assertRaises(HearsayError) as cm:
            self.clients[0].deploy("Not Valid", read_module("membership"))
        self.assertEqual(cm.exception.kind, "invalid_module_name")

    def test_error_no_commands(self) -> None:
        # Membership as it was before module ABI v2 (a v1 module) takes no commands.
        v1 = (REPO / "modules" / "abi-v1" / "membership.wasm").read_bytes()
        self.clients[0].deploy("legacy", v1)
        wait_for("legacy runs at node 0", lambda: "self" in self.clients[0].query("legacy"))
        with self.assertRaises(HearsayError) as cm:
            self.clients[0].command("legacy", "anything")
        self.assertEqual(cm.exception.kind, "no_commands")


class TokenTest(unittest.TestCase):
    """An agent started with --api-token-file."""

    def test_token_required(self) -> None:
        tmp = scratch_dir("hearsay-py-token-")
        self.addCleanup(tmp.cleanup)
        root = Path(tmp.name)
        token = "s3cret-token-" + os.urandom(8).hex()
        token_file = root / "token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.chmod(token_file, 0o600)
        agent = Agent(root, "guarded", {"role": "guarded"}, rendezvous=None,
                      extra=["--api-token-file", str(token_file)])
        self.addCleanup(agent.stop)
        agent.wait_ready()

        for bad in [Client(agent.api), Client(agent.api, token="wrong-token-wrong-token")]:
            with self.subTest(token=bad.token):
                with self.assertRaises(HearsayError) as cm:
                    bad.status()
                self.assertEqual((cm.exception.status, cm.exception.kind), (401, "unauthorized"))
                with self.assertRaises(HearsayError) as cm:
                    bad.deploy("membership", read_module("membership"))
                self.assertEqual(cm.exception.kind, "unauthorized")
                with self.assertRaises(HearsayError) as cm:
                    bad.events()
                self.assertEqual(cm.exception.kind, "unauthorized")

        good = Client(agent.api, token=token)
        self.assertEqual(good.status()["labels"], {"role": "guarded"})
        good.deploy("membership", read_module("membership"))
        wait_for("membership running on the guarded agent",
                 lambda: agent.gossip in good.query("membership").get("live", []))
        with good.events(module="membership", after=0, timeout=CONVERGE_S) as stream:
            self.assertIn(next(stream)["kind"], {"deployment_adopted", "started"})

class _CannedHandler(http.server.BaseHTTPRequestHandler):
    """Serves canned answers, recording each request's headers."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).seen.append(dict(self.headers.items()))
        if self.path.startswith("/v1/events"):
            body = (b": hello\r\n\r\n"
                    b"id: 7\r\ndata: {\"id\":7,\r\ndata: \"kind\":\"started\"}\r\n\r\n"
                    b":\n\n"
                    b"event: ignored\nid: 8\ndata:{\"id\":8,\"kind\":\"stopped\"}\n\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
        else:
            body = b"<html>not json</html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class OfflineTest(unittest.TestCase):
    """The client against a canned HTTP server: SSE parsing, headers, odd errors."""

    def setUp(self) -> None:
        _CannedHandler.seen = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _CannedHandler)
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.client = Client(f"http://127.0.0.1:{self.server.server_address[1]}", token="t0ken-t0ken-t0ken")

    def test_sse_parsing(self) -> None:
        with self.client.events(module="m", kinds=["started", "stopped"], after=6, timeout=5) as stream:
            events = list(stream)
            self.assertEqual(events, [{"id": 7, "kind": "started"}, {"id": 8, "kind": "stopped"}])
            self.assertEqual(stream.last_id, "8")
        self.assertTrue(stream.closed)
        headers = {k.lower(): v for k, v in _CannedHandler.seen[0].items()}
        self.assertEqual(headers["last-event-id"], "6")
        self.assertEqual(headers["authorization"], "Bearer t0ken-t0ken-t0ken")

    def test_non_json_error(self) -> None:
        with self.assertRaises(HearsayError) as cm:
            self.client.status()
        self.assertEqual((cm.exception.status, cm.exception.kind), (502, "http_error"))

    def test_bad_address(self) -> None:
        for bad in ["nohostport", "https://127.0.0.1:1", "127.0.0.1:x"]:
            with self.subTest(api=bad), self.assertRaises(ValueError):
                Client(bad)


if __name__ == "__main__":
    unittest.main()
