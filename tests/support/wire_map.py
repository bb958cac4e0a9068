"""HTTP requests to the Cloud Storage JSON API and the BigQuery REST API -> the calls
(method of infra/iam-data/methods.json, logical resource) IAM judges them as.

An insert or copy onto an existing object is an overwrite (storage.objects.delete too), asked of
the emulator before the request goes on; a BigQuery job is `bigquery.jobs.insert` on the project
plus one call per table of its configuration: a load's destination (created or appended to), a
query's destination and the tables its SQL reads, writes, creates or drops.
"""

from __future__ import annotations

import email.parser
import email.policy
import http.client
import json
import re
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import wire

_OBJECT = r"/b/(?P<bucket>[^/]+)/o/(?P<object>.+)"


def _status(upstream: str, path: str) -> int:
    url = urlsplit(upstream)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _object_exists(upstream: str, bucket: str, name: str) -> bool:
    return _status(upstream, f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}") == 200


def _obj(bucket: str, name: str) -> str:
    return f"{wire.bucket(bucket)}/{name}"


def _multipart_json(headers, body: bytes) -> dict:
    """The JSON metadata part of a multipart/related upload."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body)
    for part in message.iter_parts():
        if part.get_content_type() == "application/json":
            return json.loads(part.get_payload(decode=True))
    return {}


def _upload_metadata(headers, body: bytes, query: dict) -> dict:
    kind = query.get("uploadType", [""])[0]
    if kind == "multipart":
        return _multipart_json(headers, body)
    if kind == "resumable" and body:
        return json.loads(body)
    return {}


def _split(command: str, path: str) -> tuple[str, dict] | None:
    """(path, query) of a request; None for the data of a resumable upload (its insert or job
    was recorded when the upload started)."""
    url = urlsplit(path)
    if command == "PUT" and url.path.startswith("/upload/"):
        return None
    return url.path, parse_qs(url.query)


def gcs_calls(command: str, path: str, headers, body: bytes, upstream: str) -> list[tuple[str, str]]:
    if (split := _split(command, path)) is None:
        return []
    p, query = split
    if m := re.fullmatch(r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o", p):
        name = query.get("name", [None])[0] or _upload_metadata(headers, body, query).get("name")
        no_overwrite = query.get("ifGenerationMatch", [None])[0] == "0"
        overwrite = not no_overwrite and _object_exists(upstream, m["bucket"], name)
        return [("storage.objects.insert" + (".overwrite" if overwrite else ""), _obj(m["bucket"], name))]
    if m := re.fullmatch(r"/download/storage/v1" + _OBJECT, p):
        return [("storage.objects.get", _obj(m["bucket"], unquote(m["object"])))]
    if not p.startswith("/storage/v1/"):
        raise ValueError(f"unmapped Cloud Storage request {command} {p}")
    p = p[len("/storage/v1"):]
    if m := re.fullmatch(_OBJECT + r"/(?P<verb>copyTo|rewriteTo)/b/(?P<dbucket>[^/]+)/o/(?P<dobject>.+)", p):
        dest = unquote(m["dobject"])
        overwrite = _object_exists(upstream, m["dbucket"], dest)
        return [("storage.objects.rewrite" + (".overwrite" if overwrite else ""), _obj(m["dbucket"], dest)),
                ("storage.objects.rewrite.source", _obj(m["bucket"], unquote(m["object"])))]
    if m := re.fullmatch(_OBJECT + "/compose", p):
        dest = unquote(m["object"])
        overwrite = _object_exists(upstream, m["bucket"], dest)
        sources = [s["name"] for s in json.loads(body or b"{}").get("sourceObjects", [])]
        return ([("storage.objects.compose" + (".overwrite" if overwrite else ""), _obj(m["bucket"], dest))]
                + [("storage.objects.get", _obj(m["bucket"], s)) for s in sources])
    if m := re.fullmatch(_OBJECT, p):
        method = {"GET": "storage.objects.get", "DELETE": "storage.objects.delete",
                  "PATCH": "storage.objects.patch", "PUT": "storage.objects.patch"}[command]
        return [(method, _obj(m["bucket"], unquote(m["object"])))]
    if m := re.fullmatch(r"/b/(?P<bucket>[^/]+)/o", p):
        return [("storage.objects.list", _obj(m["bucket"], query.get("prefix", [""])[0]))]
    if (m := re.fullmatch(r"/b/(?P<bucket>[^/]+)", p)) and command == "GET":
        return [("storage.buckets.get", wire.bucket(m["bucket"]))]
    raise ValueError(f"unmapped Cloud Storage request {command} {p}")


# --- BigQuery ---------------------------------------------------------------------------------

_TABLE_ID = r"`?(?:[\w-]+`?\.`?)?[\w-]+`?\.`?[\w-]+`?"  # [project.]dataset.table, any backticks
_SQL = [  # (pattern, method): the first group is the table
    (rf"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_TABLE_ID})",
     "bigquery.jobs.insert.query.create"),
    (rf"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?({_TABLE_ID})", "bigquery.tables.delete"),
    (rf"\bINSERT\s+(?:INTO\s+)?({_TABLE_ID})", "bigquery.jobs.insert.query.write"),
    (rf"\bDELETE\s+(?:FROM\s+)?({_TABLE_ID})", "bigquery.jobs.insert.query.write"),
    (rf"\bUPDATE\s+({_TABLE_ID})", "bigquery.jobs.insert.query.write"),
    (rf"\bMERGE\s+(?:INTO\s+)?({_TABLE_ID})", "bigquery.jobs.insert.query.write"),
    (rf"(?<!DELETE)\s+(?:FROM|JOIN|USING)\s+({_TABLE_ID})", "bigquery.jobs.insert.query.read"),
]


def _table(parts: list[str]) -> str:
    dataset_id, table_id = parts[-2], parts[-1]
    logical = wire.dataset(dataset_id)
    return logical if logical == "bq://_anonymous" else f"{logical}.{table_id}"


def sql_calls(sql: str) -> list[tuple[str, str]]:
    """The table calls of a query's SQL (a script's statements included)."""
    found = []
    text = re.sub(r"--[^\n]*", " ", sql)
    for pattern, method in _SQL:
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            found.append((method, _table(m.group(1).replace("`", "").split("."))))
    return found


def _ref(ref: dict) -> str:
    return _table([ref["datasetId"], ref["tableId"]])


def _table_exists(upstream: str, ref: dict) -> bool:
    return _status(upstream, f"/bigquery/v2/projects/{ref['projectId']}/datasets/{ref['datasetId']}"
                             f"/tables/{ref['tableId']}") == 200


def job_calls(config: dict, upstream: str) -> list[tuple[str, str]]:
    calls = [("bigquery.jobs.insert", "project")]
    if "load" in config:
        ref = config["load"]["destinationTable"]
        exists = _table_exists(upstream, ref)
        calls.append(("bigquery.jobs.insert.load" + ("" if exists else ".create"), _ref(ref)))
    if "query" in config:
        calls += sql_calls(config["query"]["query"])
        if ref := config["query"].get("destinationTable"):
            exists = _table_exists(upstream, ref)
            calls.append(("bigquery.jobs.insert.query." + ("write" if exists else "create"), _ref(ref)))
    if "extract" in config:
        calls.append(("bigquery.jobs.insert.extract", _ref(config["extract"]["sourceTable"])))
    if "copy" in config:
        raise ValueError("copy jobs are not mapped: add them to methods.json first")
    return [c for c in calls if c[1] != "bq://_anonymous" or c[0] == "bigquery.jobs.insert"]


def bq_calls(command: str, path: str, headers, body: bytes, upstream: str) -> list[tuple[str, str]]:
    if (split := _split(command, path)) is None:
        return []
    p, query = split
    if re.fullmatch(r"/upload/bigquery/v2/projects/[^/]+/jobs", p):
        job = _upload_metadata(headers, body, query)
        return job_calls(job.get("configuration", {}), upstream)
    if not p.startswith("/bigquery/v2/projects/"):
        raise ValueError(f"unmapped BigQuery request {command} {p}")
    rest = p[len("/bigquery/v2/projects/"):].split("/", 1)[1] if "/" in p[len("/bigquery/v2/projects/"):] else ""
    if rest == "jobs" and command == "POST":
        return job_calls(json.loads(body).get("configuration", {}), upstream)
    if rest == "queries" and command == "POST":  # jobs.query: a query job in one call
        request = json.loads(body)
        return job_calls({"query": {"query": request["query"]}}, upstream)
    if re.fullmatch(r"(jobs|queries)/[^/]+(/cancel)?", rest):
        return [("bigquery.jobs.get", "project")]  # the creator's own job and its results
    if m := re.fullmatch(r"datasets/(?P<d>[^/]+)/tables", rest):
        if command == "POST":
            ref = json.loads(body)["tableReference"]
            return [("bigquery.tables.insert", _ref(ref))]
    if m := re.fullmatch(r"datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)(?P<sub>/data|/insertAll)?", rest):
        table = _table([m["d"], m["t"]])
        if table == "bq://_anonymous":
            return [("bigquery.jobs.get", "project")]
        if m["sub"] == "/data":
            return [("bigquery.tables.getData", table)]
        if m["sub"] == "/insertAll":
            return [("bigquery.tables.updateData", table)]
        return [({"GET": "bigquery.tables.get", "DELETE": "bigquery.tables.delete",
                  "PATCH": "bigquery.tables.patch", "PUT": "bigquery.tables.patch"}[command], table)]
    if (m := re.fullmatch(r"datasets/(?P<d>[^/]+)", rest)) and command == "GET":
        return [("bigquery.datasets.get", wire.dataset(m["d"]))]
    raise ValueError(f"unmapped BigQuery request {command} {p}")
