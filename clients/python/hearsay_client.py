"""A Python client for the management API of a hearsay agent.

A hearsay agent (``hearsay agent --api ADDR``) serves a JSON management API over
plain HTTP; docs/api.md in the hearsay repository is its reference. This module
wraps the versioned ``/v1`` routes in a small :class:`Client`, using nothing but
the Python standard library::

    from hearsay_client import Client, HearsayError

    c = Client("127.0.0.1:7001")
    with open("modules/dist/membership.wasm", "rb") as f:
        c.deploy("membership", f.read(), params={"fanout": 3})
    print(c.query("membership"))
    with c.events(module="membership") as stream:
        for event in stream:
            print(event["kind"], event["message"])

Every error answer of the API becomes a :class:`HearsayError` carrying the HTTP
status and the stable ``kind`` of the JSON error body (``invalid_wasm``,
``not_running``, ``unauthorized``, …). Network failures (connection refused, a
timeout) are raised as the usual ``OSError`` subclasses.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.parse
from typing import Any, Iterable, Iterator, Mapping

__all__ = ["Client", "EventStream", "HearsayError"]

_JSON = "application/json"


class HearsayError(Exception):
    """An error answer of the agent's API.

    Attributes:
        status: the HTTP status (e.g. 400, 404), or ``None`` when the error is the
            client's own (see ``kind``).
        kind: the stable error kind of the JSON body (docs/api.md), e.g.
            ``"invalid_wasm"``. Two kinds are the client's: ``"http_error"`` for an
            error answer that wasn't the documented JSON, ``"unexpected_answer"``
            for a successful answer that wasn't what the route promises.
        message: the human-readable ``error`` of the body.
    """

    def __init__(self, status: int | None, kind: str, message: str) -> None:
        super().__init__(f"{kind} ({status}): {message}")
        self.status = status
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"HearsayError(status={self.status!r}, kind={self.kind!r}, message={self.message!r})"


def _error_from(status: int, body: bytes) -> HearsayError:
    """Build a :class:`HearsayError` from an error answer's status and body."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("kind"), str):
            return HearsayError(status, doc["kind"], str(doc.get("error", "")))
    except ValueError:
        pass
    return HearsayError(status, "http_error", body.decode("utf-8", "replace").strip())


def _args_text(args: Any) -> str:
    """Args as the text a module receives: a string as is, anything else as JSON."""
    return args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))


class Client:
    """A client of one agent's management API.

    Args:
        api: the agent's ``--api`` address, ``HOST:PORT`` (an ``http://`` prefix is
            accepted). The API speaks plain HTTP.
        token: the API token (``--api-token-file``), sent as
            ``Authorization: Bearer TOKEN``; ``None`` sends none.
        timeout: seconds to wait for a connection and for each answer.

    Each call opens its own connection, so one client may be shared by threads.
    """

    def __init__(self, api: str = "127.0.0.1:7001", token: str | None = None, timeout: float = 10.0) -> None:
        if "://" in api:
            parsed = urllib.parse.urlsplit(api)
            if parsed.scheme != "http":
                raise ValueError(f"the management API speaks plain HTTP, not {parsed.scheme}: {api}")
            api = parsed.netloc
        host, sep, port = api.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"api must be HOST:PORT, not {api!r}")
        self.api = api
        self.host = host.strip("[]")
        self.port = int(port)
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client(api={self.api!r}, token={'***' if self.token else None}, timeout={self.timeout!r})"

    # --- plumbing -------------------------------------------------------------

    def _headers(self, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": _JSON}
        if body is not None:
            headers["Content-Type"] = _JSON
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _request(self, method: str, path: str, doc: Any = None) -> tuple[int, bytes]:
        """Send one request; return (status, body), raising HearsayError on >= 400."""
        body = None if doc is None else json.dumps(doc).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=self._headers(body))
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise _error_from(resp.status, data)
        return resp.status, data

    def _json(self, method: str, path: str, doc: Any = None) -> Any:
        status, data = self._request(method, path, doc)
        try:
            return json.loads(data)
        except ValueError as e:
            raise HearsayError(status, "unexpected_answer", f"{method} {path}: answer is not JSON: {e}") from None

    @staticmethod
    def _module_path(module: str, route: str) -> str:
        return f"/v1/modules/{urllib.parse.quote(module, safe='')}/{route}"

    # --- routes ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """``GET /v1/status``: the node (id, addresses, labels, peers, security) and
        every configured module with its deployment, state and usage."""
        return self._json("GET", "/v1/status")

    def deploy(
        self,
        module: str,
        wasm: bytes,
        params: Any = "",
        budget: Mapping[str, int] | None = None,
        auto_rollback_ms: int | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/deploy``: deploy ``wasm`` (the module's code) as ``module``
        through this node; gossip spreads it.

        Args:
            module: the module name, ``[a-z0-9][a-z0-9_-]{0,63}``.
            wasm: the WebAssembly code (sent base64-encoded).
            params: handed to the module at start: a string as is, any other JSON
                value (e.g. ``{"fanout": 3}``) as its text. ``""`` or ``None`` sends
                none.
            budget: per-deployment overrides of the node's default budget, e.g.
                ``{"messages_per_s": 200}``.
            auto_rollback_ms: the automatic rollback policy, if any.

        Returns:
            The answer, ``{"deployment": {...}}``: the new deployment.
        """
        doc: dict[str, Any] = {"module": module, "wasm_base64": base64.b64encode(bytes(wasm)).decode("ascii")}
        if params is not None and params != "":
            doc["params"] = params
        if budget is not None:
            doc["budget"] = dict(budget)
        if auto_rollback_ms is not None:
            doc["auto_rollback_ms"] = auto_rollback_ms
        return self._json("POST", "/v1/deploy", doc)

    def rollback(self, module: str, to: str | None = None) -> dict[str, Any]:
        """``POST /v1/rollback``: a new deployment of older code of ``module``: the
        version ``to`` (64 hex digits or a unique prefix of 8+), or without it the
        version the current deployment replaced. Returns ``{"deployment": {...}}``."""
        doc: dict[str, Any] = {"module": module}
        if to is not None:
            doc["to"] = to
        return self._json("POST", "/v1/rollback", doc)

    def stop(self, module: str) -> dict[str, Any]:
        """``POST /v1/stop``: a deployment with no code: ``module`` stops everywhere.
        Returns ``{"deployment": {...}}``."""
        return self._json("POST", "/v1/stop", {"module": module})

    def query(self, module: str, args: Any = "") -> Any:
        """``GET /v1/modules/{module}/query?args=…``: the module's own JSON answer.

        ``args`` is a string (URL-encoded for you) or any JSON value (sent as its
        text). Raises HearsayError ``not_running`` when the module doesn't run here.
        """
        path = self._module_path(module, "query")
        text = _args_text(args)
        if text:
            path += "?" + urllib.parse.urlencode({"args": text})
        return self._json("GET", path)

    def command(self, module: str, args: Any) -> Any:
        """``POST /v1/modules/{module}/command`` with ``{"args": args}``: a
        state-changing call to a module exporting ``hearsay_command`` (module ABI
        v2); returns its JSON answer. ``args`` is a string or any JSON value (sent
        as its text). Raises HearsayError ``no_commands`` for a module taking none."""
        return self._json("POST", self._module_path(module, "command"), {"args": _args_text(args)})

    def members(self, module: str = "membership", label: str | None = None) -> list[dict[str, Any]]:
        """The member list of a membership module: ``query(module, "members")``'s
        ``"members"``, each a dict with at least ``addr``, ``state`` and ``labels``.

        Args:
            module: the membership module's name.
            label: ``"KEY=VALUE"``: only the members whose labels hold KEY with
                that VALUE.
        """
        want: tuple[str, str] | None = None
        if label is not None:
            key, sep, value = label.partition("=")
            if not sep or not key:
                raise ValueError(f"label must be KEY=VALUE, not {label!r}")
            want = (key, value)
        answer = self.query(module, "members")
        members = answer.get("members") if isinstance(answer, dict) else None
        if not isinstance(members, list):
            raise HearsayError(
                200,
                "unexpected_answer",
                f"module {module}'s answer to the query 'members' has no member list: {json.dumps(answer)[:200]}",
            )
        if want is None:
            return members
        key, value = want
        return [m for m in members if isinstance(m, dict) and (m.get("labels") or {}).get(key) == value]

    def metrics(self) -> str:
        """``GET /v1/metrics``: the Prometheus text."""
        _, data = self._request("GET", "/v1/metrics")
        return data.decode("utf-8")

    def events(
        self,
        module: str | None = None,
        kinds: Iterable[str] | str | None = None,
        after: int | str | None = None,
        timeout: float | None = 60.0,
    ) -> "EventStream":
        """``GET /v1/events``: the node's events as they happen.

        The stream is subscribed when this returns (the request is sent and its
        answer's head read), so events after this call are not missed. Iterate it
        for each event's JSON dict; close it (``close()`` or a ``with`` block) when
        done.

        Args:
            module: only this module's events.
            kinds: only these kinds (an iterable, or a comma-separated string).
            after: an event id: first replay the events after it that the node
                still keeps (sent as ``Last-Event-ID``).
            timeout: seconds to wait for the next line of the stream before
                raising ``TimeoutError`` (the agent sends a keep-alive comment every
                15 s); ``None`` waits forever.
        """
        query: dict[str, str] = {}
        if module is not None:
            query["module"] = module
        if kinds is not None:
            query["kind"] = kinds if isinstance(kinds, str) else ",".join(kinds)
        path = "/v1/events" + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = self._headers(None)
        headers["Accept"] = "text/event-stream"
        if after is not None:
            headers["Last-Event-ID"] = str(after)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", path, headers=headers)
            sock = conn.sock
            resp = conn.getresponse()
            if resp.status >= 400:
                raise _error_from(resp.status, resp.read())
            if sock is not None:
                sock.settimeout(timeout)
        except BaseException:
            conn.close()
            raise
        return EventStream(conn, resp)


class EventStream(Iterator[dict[str, Any]]):
    """An open Server-Sent Events stream of an agent (:meth:`Client.events`).

    An iterator of events (each the parsed JSON of its ``data:``), ending when the
    agent closes the stream; a context manager that closes it. ``last_id`` is the
    id of the last event read: pass it as ``after`` to resume where it left off.
    """

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp: http.client.HTTPResponse | None = resp
        self.last_id: str | None = None

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> dict[str, Any]:
        data: list[str] = []
        while True:
            if self._resp is None:
                raise StopIteration
            try:
                raw = self._resp.readline()
            except (socket.timeout, TimeoutError):
                raise
            except (OSError, http.client.HTTPException, ValueError):
                # The connection broke (or was closed under us): the stream ends.
                self.close()
                raise StopIteration from None
            if not raw:
                self.close()
                raise StopIteration
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if data:
                    text = "\n".join(data)
                    try:
                        return json.loads(text)
                    except ValueError:
                        raise HearsayError(200, "unexpected_answer", f"event data is not JSON: {text[:200]}") from None
                continue
            if line.startswith(":"):
                continue  # a comment: keep-alive
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "id":
                self.last_id = value
            # "event", "retry" and unknown fields are ignored.

    def close(self) -> None:
        """Close the stream's connection (idempotent)."""
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.close()
        self._conn.close()

    @property
    def closed(self) -> bool:
        """Whether the stream is closed."""
        return self._resp is None

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
