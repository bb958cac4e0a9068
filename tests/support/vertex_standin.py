"""A local stand-in of Vertex AI's `generateContent` REST method and of Google's OAuth token
endpoint: a real HTTP server on loopback that checks the wire format a client really sends.

    with VertexStandIn() as vertex:
        key = vertex.service_account_file(tmp_path)   # GOOGLE_APPLICATION_CREDENTIALS=key
        vertex.reply = lambda call: Reply.answer("...")   # or Reply.error(429), Reply.raw(b"{"), ...
        ... NARRATIVE_BASE_URL=vertex.url ...
        vertex.calls  # every call: method, path, headers, body (parsed JSON), the check's problems

The token endpoint (the key file's `token_uri`) answers the service account's signed JWT grant
with an access token; `generateContent` answers 401 to any other bearer token, 404 to any other
path, 400 to a body that is not Vertex AI's request JSON, and otherwise what `reply` returns.
Every call is recorded, with `route` ("token" or "generateContent"), so a test can also compare
the calls made with the permissions granted (`iam_calls`: generateContent needs
aiplatform.endpoints.predict on the project).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

ACCESS_TOKEN = "standin-access-token"
# generateContent as the IAM check (scripts/iam_grants.py) names it: a method on the project,
# authorized by aiplatform.endpoints.predict.
IAM_METHOD, IAM_RESOURCE = "aiplatform.generateContent", "project"
GENERATE_CONTENT_PATH = re.compile(
    r"^/v1(?:beta1)?/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/google/models/(?P<model>[^/:]+):generateContent$")


@dataclass
class Call:
    route: str
    method: str
    path: str
    headers: dict
    body: object
    problems: list[str] = field(default_factory=list)
    match: dict = field(default_factory=dict)


@dataclass
class Reply:
    status: int
    body: bytes
    delay_s: float = 0.0

    @classmethod
    def answer(cls, text: str, delay_s: float = 0.0, prompt_tokens: int = 180, answer_tokens: int = 60) -> "Reply":
        """A 200 answer as Vertex AI gives it, with `text` as the one candidate's one part."""
        body = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": answer_tokens,
                                  "totalTokenCount": prompt_tokens + answer_tokens},
                "modelVersion": "gemini-standin"}
        return cls(200, json.dumps(body).encode(), delay_s)

    @classmethod
    def error(cls, status: int) -> "Reply":
        """An error as Google's APIs give it (`{"error": {"code", "message", "status"}}`)."""
        names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        body = {"error": {"code": status, "message": "stand-in error", "status": names.get(status, "UNKNOWN")}}
        return cls(status, json.dumps(body).encode())

    @classmethod
    def raw(cls, body: bytes, status: int = 200) -> "Reply":
        return cls(status, body)


def facts_of(call: Call) -> dict:
    """The decision facts a narrative request carries (the JSON after the prompt's first line)."""
    text = call.body["contents"][0]["parts"][0]["text"]
    return json.loads(text.split("\n", 1)[1])


class VertexStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.reply: Callable[[Call], Reply] = lambda call: Reply.answer("stand-in answer")
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, delay = standin._handle(self.path, dict(self.headers), raw)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.token_uri = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "VertexStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def generate_calls(self) -> list[Call]:
        return [c for c in self.calls if c.route == "generateContent"]

    def iam_calls(self, identity: str) -> list[tuple[str, str, str]]:
        """The generateContent calls made, as (identity, method, resource) for the IAM check."""
        return [(identity, IAM_METHOD, IAM_RESOURCE) for c in self.generate_calls() if not c.problems]

    def service_account_file(self, folder: Path) -> Path:
        """A service-account key (a fresh RSA key) whose token endpoint is this stand-in."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        info = {"type": "service_account", "project_id": "standin-project", "private_key_id": "standin",
                "private_key": pem, "client_email": "score@standin-project.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": self.token_uri}
        path = Path(folder) / "standin-service-account.json"
        path.write_text(json.dumps(info))
        return path

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _handle(self, path: str, headers: dict, raw: bytes) -> tuple[int, bytes, float]:
        if path == "/token":
            form = parse_qs(raw.decode())
            call = Call("token", "POST", path, headers, form)
            assertion = (form.get("assertion") or [""])[0]
            if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or assertion.count(".") != 2:
                call.problems.append("not a JWT bearer grant")
            else:
                claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
                if "https://www.googleapis.com/auth/cloud-platform" not in claims.get("scope", "").split():
                    call.problems.append(f"scope {claims.get('scope')!r} lacks cloud-platform")
            self._record(call)
            if call.problems:
                return 400, json.dumps({"error": "invalid_grant"}).encode(), 0.0
            return 200, json.dumps({"access_token": ACCESS_TOKEN, "expires_in": 3600,
                                    "token_type": "Bearer"}).encode(), 0.0
        call = Call("generateContent", "POST", path, headers, None)
        match = GENERATE_CONTENT_PATH.match(path)
        lower = {k.lower(): v for k, v in headers.items()}
        if match is None:
            call.problems.append("path")
            self._record(call)
            return 404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}', 0.0
        call.match = match.groupdict()
        if lower.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            call.problems.append("bearer token")
            self._record(call)
            return 401, b'{"error": {"code": 401, "status": "UNAUTHENTICATED"}}', 0.0
        try:
            call.body = json.loads(raw)
            assert isinstance(call.body["contents"], list) and call.body["contents"][0]["parts"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            call.problems.append("body")
            self._record(call)
            return 400, b'{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}', 0.0
        self._record(call)
        reply = self.reply(call)
        return reply.status, reply.body, reply.delay_s
