"""IAM at the wire: every Google API request the code under test makes, recorded with the
identity that would make it in the cloud, so scripts/iam_grants.py can judge it as Google would.

The emulators enforce no IAM. Here each emulator gets a loopback recording proxy per identity
(`Wire.gcs_host(identity)`, `Wire.bq_endpoint(identity)`): code under test is pointed at its
identity's proxy (STORAGE_EMULATOR_HOST, the BigQuery client factory), the proxy maps each HTTP
request to (REST method, resource) with `wire_map` and forwards it unchanged. Test set-up and
checks use the fixtures' own clients, which talk to the emulators directly and are not recorded.
The Storage Read API (gRPC) is recorded by a client interceptor (`Wire.read_client`); stand-ins
(Dataflow, a function's Cloud Run service) record through `Wire.record`.

Emulator names map to the logical resources of scripts/iam_grants.py by their prefix:
a bucket `model-…`, `batch-…`, `sources-…`, `dataflow-…` is gs://model …; a dataset
`main_…`, `staging_…`, `predictions_…`, `input_…` is bq://main …; a service account
`NAME@…` is sa:NAME. Anything else keeps its emulator name, which no grant reaches: a call on it
is refused, so a test cannot pass by naming a resource the configuration does not know.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from . import wire_map

BUCKETS = ("model", "batch", "sources", "dataflow")
DATASETS = ("main", "staging", "predictions", "input")
IDENTITIES = ("score", "batch", "drift", "training", "dataflow", "scheduler", "cloudbuild_deploy")


@dataclass(frozen=True)
class Call:
    identity: str
    method: str
    resource: str
    wire: str  # the HTTP request (or gRPC method) it was read from, for the failure message

    def key(self) -> tuple[str, str, str]:
        return self.identity, self.method, normalize(self.resource)

    @property
    def logical(self) -> bool:
        return is_logical(self.resource)


def normalize(resource: str) -> str:
    """A resource without the run-specific parts (uuid tags, staging suffixes), so the calls of
    two runs compare equal."""
    resource = re.sub(r"[0-9a-f]{8,}", "*", re.sub(r"\bv\d{8}-\d{6}\b", "v*", resource))
    # A test bucket's counter ("batch-4-<hex>") inside an object name (a drift report's source
    # folder): it depends on how many buckets earlier tests made.
    return re.sub(r"-\d+-\*", "-*", resource)


def bucket(name: str) -> str:
    logical = re.fullmatch(rf"({'|'.join(BUCKETS)})-\d+-[0-9a-f]{{8}}", name)
    return f"gs://{logical.group(1)}" if logical else f"gs://{name}"


def dataset(name: str) -> str:
    if name.startswith("_"):  # a query's anonymous result dataset: its job's creator reads it
        return "bq://_anonymous"
    logical = re.fullmatch(rf"({'|'.join(DATASETS)})_\d+_[0-9a-f]{{8}}", name)
    return f"bq://{logical.group(1)}" if logical else f"bq://{name}"


def is_logical(resource: str) -> bool:
    """Whether `resource` names a resource of the configuration (not a test's own bucket or dataset)."""
    if resource.startswith("gs://"):
        return resource.removeprefix("gs://").split("/", 1)[0] in BUCKETS
    if resource.startswith("bq://"):
        return resource.removeprefix("bq://").split(".", 1)[0] in (*DATASETS, "_anonymous")
    return True


def service_account(email: str) -> str:
    return "sa:" + email.split("@", 1)[0]


class Recorder:
    """The calls of this test session, in order."""

    def __init__(self):
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, identity: str, method: str, resource: str, wire: str) -> None:
        if identity not in IDENTITIES:
            raise ValueError(f"unknown identity {identity!r}: expected one of {IDENTITIES}")
        with self._lock:
            self.calls.append(Call(identity, method, resource, wire))

    def since(self, mark: int) -> list[Call]:
        with self._lock:
            return list(self.calls[mark:])


RECORDER = Recorder()


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, identity: str, mapper, recorder: Recorder, handler=None):
        super().__init__(("127.0.0.1", 0), handler or _ProxyHandler)
        self.upstream = urlsplit(upstream)
        self.identity, self.mapper, self.recorder = identity, mapper, recorder
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _forward(self):
        server: _Proxy = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        upstream = server.upstream
        request = f"{self.command} {self.path.split('?')[0]}"
        try:
            calls = server.mapper(self.command, self.path, self.headers, body, f"{upstream.scheme}://{upstream.netloc}")
        except Exception as exc:  # noqa: BLE001 - an unmapped request fails the session's check, by name
            calls = [(f"unmapped request ({exc})", request)]
        for method, resource in calls:
            server.recorder.add(server.identity, method, resource, request)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        # Links the emulator hands out (mediaLink, selfLink, resumable Location) point back here.
        own = f"{upstream.scheme}://{upstream.netloc}".encode()
        data = data.replace(own, server.base.encode())
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() in ("content-length", "transfer-encoding", "connection", "server", "date"):
                continue
            self.send_header(key, value.replace(own.decode(), server.base))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


class _RunService(_Proxy):
    def __init__(self, upstream: str, identity: str, service: str, recorder: Recorder):
        self.service = service
        super().__init__(upstream, identity, self._calls, recorder, _RunServiceHandler)

    def _calls(self, command, path, headers, body, upstream):
        if self.identity is None:  # a person in the invoker list: not a workload identity
            return []
        return [("run.services.invoke", f"run_service:{self.service}")]


class _RunServiceHandler(_ProxyHandler):
    def _forward(self):
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super()._forward()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


class _Dataflow(ThreadingHTTPServer):
    daemon_threads = True

    TOKEN = "token-from-the-stand-in"

    def __init__(self, identity: str, recorder: Recorder, tmp_dir: Path):
        super().__init__(("127.0.0.1", 0), _DataflowHandler)
        self.identity, self.recorder = identity, recorder
        self.requests = []  # SimpleNamespace(path, headers (lower-case), body) of each launch
        self.answer = (200, {"job": {"id": "2026-11-20_01_02_03-123", "name": "x"}})  # what a launch gets
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.credentials = _service_account_key(tmp_dir / f"{identity}-key.json", identity, f"{self.url}/token")
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _DataflowHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        server: _Dataflow = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/token":  # google-auth's service-account flow: a signed JWT for a token
            assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in body
            return self._json(200, {"access_token": server.TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        if not self.path.endswith("/flexTemplates:launch"):
            return self._json(404, {"error": {"message": f"no such method {self.path}"}})
        request = json.loads(body)
        server.requests.append(SimpleNamespace(path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                                               body=request))
        launch, seen = request["launchParameter"], f"POST {self.path}"
        server.recorder.add(server.identity, "dataflow.flexTemplates.launch", "project", seen)
        account = launch.get("environment", {}).get("serviceAccountEmail")
        if account:
            server.recorder.add(server.identity, "dataflow.flexTemplates.launch.actAs", service_account(account), seen)
        spec_bucket, _, spec_name = launch["containerSpecGcsPath"].removeprefix("gs://").partition("/")
        server.recorder.add(server.identity, "dataflow.flexTemplates.launch.spec", f"{bucket(spec_bucket)}/{spec_name}",
                            seen)
        self._json(*server.answer)

    def _json(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _service_account_key(path: Path, identity: str, token_uri: str) -> Path:
    """A generated service-account key: google-auth's real token flow against a stand-in."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    path.write_text(json.dumps({"type": "service_account", "project_id": "test-project", "private_key_id": "k1",
                                "private_key": key, "client_email": f"{identity}@test-project.iam.gserviceaccount.com",
                                "client_id": "1", "token_uri": token_uri}))
    return path


def _read_interceptor(identity: str, recorder: Recorder):
    import grpc

    class ReadInterceptor(_ReadInterceptor, grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
        pass

    return ReadInterceptor(identity, recorder)


class _ReadInterceptor:
    """Records BigQuery Storage Read calls (CreateReadSession names the table)."""

    def __init__(self, identity: str, recorder: Recorder):
        self.identity, self.recorder = identity, recorder

    def _record(self, details, request):
        name = details.method.rsplit("/", 1)[-1]
        if name == "CreateReadSession":
            table = request.read_session.table  # projects/P/datasets/D/tables/T
            d, t = table.split("/datasets/", 1)[1].split("/tables/")
            resource = dataset(d) + ("" if dataset(d) == "bq://_anonymous" else f".{t}")
            method = "bigquerystorage.CreateReadSession" + (".anonymous" if resource == "bq://_anonymous" else "")
            self.recorder.add(self.identity, method, resource if method.endswith("Session") else "project",
                              details.method)
        elif name in ("ReadRows", "SplitReadStream"):
            self.recorder.add(self.identity, "bigquerystorage.ReadRows", "project", details.method)

    def intercept_unary_unary(self, continuation, details, request):
        self._record(details, request)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation, details, request):
        self._record(details, request)
        return continuation(details, request)


class Wire:
    """Recording proxies in front of the emulators, one per identity, made on first use."""

    def __init__(self, recorder: Recorder = RECORDER):
        self.recorder = recorder
        self.acting: str | None = None  # the identity of the function a test runs (function_app)
        self._proxies: dict[tuple[str, str], _Proxy] = {}
        self._lock = threading.Lock()

    def _proxy(self, upstream: str, identity: str, mapper) -> str:
        if identity not in IDENTITIES:
            raise ValueError(f"unknown identity {identity!r}: expected one of {IDENTITIES}")
        with self._lock:
            key = (upstream, identity)
            if key not in self._proxies:
                self._proxies[key] = _Proxy(upstream, identity, mapper, self.recorder)
            return self._proxies[key].base

    def gcs_host(self, gcs_host: str, identity: str) -> str:
        """What STORAGE_EMULATOR_HOST is for code acting as `identity`."""
        return self._proxy(gcs_host, identity, wire_map.gcs_calls)

    def bq_endpoint(self, bq_endpoint: str, identity: str) -> str:
        """The BigQuery REST endpoint for code acting as `identity`."""
        return self._proxy(bq_endpoint, identity, wire_map.bq_calls)

    def bq_client(self, bq_emulator, identity: str, project: str | None = None):
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(project=project or bq_emulator.project, credentials=AnonymousCredentials(),
                               client_options=ClientOptions(api_endpoint=self.bq_endpoint(bq_emulator.endpoint, identity)))

    def read_client(self, bq_emulator, identity: str):
        import grpc
        from google.cloud.bigquery_storage_v1 import BigQueryReadClient
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

        channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{bq_emulator.grpc_port}"),
                                         _read_interceptor(identity, self.recorder))
        return BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))

    def record(self, identity: str, method: str, resource: str, wire: str) -> None:
        self.recorder.add(identity, method, resource, wire)

    def act_as(self, monkeypatch, identity: str, gcs=None, bq=None) -> None:
        """Point riskscore's Google clients at `identity`'s proxies: STORAGE_EMULATOR_HOST (read by
        every storage.Client() the code makes) and riskscore.io.bq's two client factories (which
        every BigQuery caller uses). The fixtures' own clients keep talking to the emulators."""
        import riskscore.io.bq

        if gcs is not None:
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", self.gcs_host(gcs.host, identity))
        if bq is not None:
            monkeypatch.setattr(riskscore.io.bq, "bigquery_client", lambda project=None: self.bq_client(bq, identity, project))
            monkeypatch.setattr(riskscore.io.bq, "bigquery_read_client", lambda: self.read_client(bq, identity))

    def run_service(self, upstream_url: str, identity: str, service: str) -> str:
        """A function's URL as Cloud Run serves it: a call with a bearer token is `identity`
        invoking run_service:SERVICE (run.routes.invoke), one without is refused with 401.
        `identity` None: the caller is a person (recorded nothing)."""
        key = (upstream_url, identity)
        with self._lock:
            if key not in self._proxies:
                self._proxies[key] = _RunService(upstream_url, identity, service, self.recorder)
            return self._proxies[key].base + "/"

    def dataflow(self, identity: str, tmp_dir) -> "_Dataflow":
        """A stand-in for the Dataflow REST API and Google's OAuth token endpoint: `.url` (the
        DATAFLOW_ENDPOINT), `.credentials` (a service-account key file whose token URI is the
        stand-in, for GOOGLE_APPLICATION_CREDENTIALS), `.requests` (each launch's path, headers,
        body), `.answer` ((status, body) a launch gets; settable). Each flexTemplates:launch
        records the launch, actAs on the job's service account and the read of the template spec."""
        stand_in = _Dataflow(identity, self.recorder, Path(tmp_dir))
        self._proxies[("dataflow", id(stand_in))] = stand_in
        return stand_in

    def close(self) -> None:
        for proxy in self._proxies.values():
            proxy.shutdown()
            proxy.server_close()


def calls_json(calls) -> str:
    """The committed form of recorded calls: sorted, deduplicated, normalized."""
    return json.dumps(sorted({c.key() for c in calls}), indent=1) + "\n"
