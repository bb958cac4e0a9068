"""A local fake of just enough of BigQuery's REST API v2 for the real client: tests meet the
client at its HTTP boundary (BigQuery has no emulator)."""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeBigQuery(ThreadingHTTPServer):
    """Just enough of BigQuery REST v2 for `list_rows` and `query(...).result()`.

    Table reads: tables.get, then tabledata.list (paged, `page_rows` rows per page).
    Queries: jobs.insert answers "DONE" at once; jobs.getQueryResults is first called with
    maxResults=0 (status only, like the real service), then for the rows.
    Every request is kept in `.requests` as (method, path, query dict, JSON body or None).
    """

    daemon_threads = True
    page_rows = 2

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FakeBigQueryHandler)
        self.requests: list[tuple[str, str, dict, dict | None]] = []
        self.tables: dict[str, tuple[dict, list]] = {}
        self.query_result: tuple[dict, list] = ({"fields": []}, [])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def page(self, rows, token):
        start = int(token or 0)
        body = {"totalRows": str(len(rows)),
                "rows": [{"f": [{"v": v} for v in row]} for row in rows[start:start + self.page_rows]]}
        if start + self.page_rows < len(rows):
            body["pageToken"] = str(start + self.page_rows)
        return body


class _FakeBigQueryHandler(BaseHTTPRequestHandler):
    server: FakeBigQuery

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, what: str) -> None:
        message = f"Not found: {what}"
        self._reply(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND",
                                    "errors": [{"reason": "notFound", "message": message}]}})

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, url.path, query, body))
        method, path = self.command, url.path
        api = "/bigquery/v2/projects/([^/]+)"

        if method == "POST" and (m := re.fullmatch(rf"{api}/datasets/([^/]+)/tables", path)):  # tables.insert
            ref = body["tableReference"]
            self.server.tables[f"{ref['projectId']}.{ref['datasetId']}.{ref['tableId']}"] = (body["schema"], [])
            return self._reply(200, dict(body, kind="bigquery#table"))

        if method == "POST" and (m := re.fullmatch(rf"{api}/datasets/([^/]+)/tables/([^/]+)/insertAll", path)):
            key = ".".join(m.group(1, 2, 3))
            if key not in self.server.tables:
                return self._not_found(f"Table {key}")
            self.server.tables[key][1].extend(body["rows"])
            return self._reply(200, {"kind": "bigquery#tableDataInsertAllResponse"})

        if m := re.fullmatch(rf"{api}/datasets/([^/]+)/tables/([^/]+)(/data)?", path):
            project, dataset, table = m.group(1, 2, 3)
            if method != "GET" or f"{project}.{dataset}.{table}" not in self.server.tables:
                return self._not_found(f"Table {project}:{dataset}.{table}")
            schema, rows = self.server.tables[f"{project}.{dataset}.{table}"]
            if m.group(4):  # tabledata.list
                return self._reply(200, {"kind": "bigquery#tableDataList",
                                         **self.server.page(rows, query.get("pageToken"))})
            return self._reply(200, {
                "kind": "bigquery#table", "id": f"{project}:{dataset}.{table}", "type": "TABLE",
                "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
                "schema": schema, "numRows": str(len(rows)),
            })

        if method == "POST" and re.fullmatch(rf"{api}/jobs", path):
            ref = dict(body["jobReference"], location="US")
            config = dict(body["configuration"]["query"], destinationTable={
                "projectId": ref["projectId"], "datasetId": "_anon", "tableId": "anon_result"})
            return self._reply(200, {
                "kind": "bigquery#job", "id": f"{ref['projectId']}:US.{ref['jobId']}",
                "jobReference": ref, "configuration": {"query": config, "jobType": "QUERY"},
                "status": {"state": "DONE"}, "statistics": {"query": {"statementType": "SELECT"}},
            })

        if method == "GET" and (m := re.fullmatch(rf"{api}/queries/([^/]+)", path)):
            schema, rows = self.server.query_result
            reply = {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True, "schema": schema,
                     "jobReference": {"projectId": m.group(1), "jobId": m.group(2), "location": "US"}}
            if query.get("maxResults") == "0":
                return self._reply(200, dict(reply, totalRows=str(len(rows))))
            return self._reply(200, dict(reply, **self.server.page(rows, query.get("pageToken"))))

        self._not_found(f"{method} {path}")

    do_GET = do_POST = _handle


@contextmanager
def running_fake_bigquery():
    server = FakeBigQuery()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def client_for(server, project: str = "billing-proj"):
    """The real google-cloud-bigquery client, pointed at the fake."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": server.endpoint})
