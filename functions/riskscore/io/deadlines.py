"""Deadlines of the jobs' Google calls: one HTTP session under every BigQuery and Cloud Storage
client of batch and drift (`riskscore.io.bq`, `riskscore.io.files`).

The libraries retry on their own for minutes (BigQuery: 600 s) while a request waits. Here:
  - an attempt that cannot connect is retried with backoff for at most `deadline_s`, then
    raises ServiceUnavailable (503), which no library retry predicate matches: it ends the
    call at once;
  - a connection is given `timeout_s`; an answer, the time the library asks for but never
    more than `deadline_s`; a timed-out answer is ServiceUnavailable at once (the request may
    have been received, so it is not sent again here);
  - server errors (5xx) the library retries end as ServiceUnavailable once they have lasted
    `deadline_s`.
`apply(settings)` sets the limits from a job's settings (SERVICE_TIMEOUT_S, SERVICE_DEADLINE_S);
clients built afterwards use them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from riskscore.errors import ServiceUnavailable

__all__ = ["Limits", "apply", "current", "default_credentials", "session"]


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    deadline_s: float = 30.0


_current = Limits()


def apply(settings) -> Limits:
    """Use `settings.service_timeout_s` and `service_deadline_s` for clients built from now on."""
    global _current
    _current = Limits(settings.service_timeout_s, settings.service_deadline_s)
    return _current


def current() -> Limits:
    return _current


def _bounded(base):
    """A subclass of the requests session class `base` enforcing the limits (module docstring)."""
    import requests

    class Bounded(base):
        limits: Limits

        def request(self, method, url, *args, **kwargs):
            limits = self.limits
            asked = kwargs.pop("timeout", None)
            read = asked[1] if isinstance(asked, tuple) else asked
            read = limits.deadline_s if read is None else min(float(read), limits.deadline_s)
            kwargs["timeout"] = (min(limits.timeout_s, limits.deadline_s), read)
            started, pause = time.monotonic(), 0.25
            while True:
                try:
                    response = super().request(method, url, *args, **kwargs)
                except requests.ConnectionError as exc:
                    if isinstance(exc, requests.ReadTimeout) or time.monotonic() - started + pause > limits.deadline_s:
                        raise self._unavailable(url, exc) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 4.0)
                    continue
                except requests.Timeout as exc:
                    raise self._unavailable(url, exc) from None
                self._note_status(url, response.status_code)
                return response

        def _note_status(self, url, status: int) -> None:
            now = time.monotonic()
            if status < 500:
                self._failing_since = None
                return
            since = getattr(self, "_failing_since", None) or now
            self._failing_since = since
            if now - since >= self.limits.deadline_s:
                self._failing_since = None
                raise self._unavailable(url, f"HTTP {status} for {now - since:.0f} s")

        def _unavailable(self, url: str, why) -> ServiceUnavailable:
            from urllib.parse import urlsplit

            host = urlsplit(url).hostname or "the service"
            # The host only: a URL's path and query may name tables, objects or rows.
            return ServiceUnavailable(f"{host} did not answer within the deadline of "
                                      f"{self.limits.deadline_s:g} s; try again later",
                                      details=[{"field": "service", "problem": f"{host}: {type(why).__name__ if not isinstance(why, str) else why}"}])

    return Bounded


def session(credentials=None, limits: Limits | None = None):
    """A requests session bounded by `limits` (default: the current ones): plain for an
    emulator (`credentials` None), authorized with `credentials` otherwise."""
    import requests

    if credentials is None:
        http = _bounded(requests.Session)()
    else:
        from google.auth.transport.requests import AuthorizedSession

        http = _bounded(AuthorizedSession)(credentials)
    http.limits = limits or _current
    return http


def default_credentials(scopes):
    """(credentials, project) of the environment; none at all is ServiceUnavailable (503: the
    deployment's problem, not the caller's), never an unhandled error."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return google.auth.default(scopes=scopes)
    except DefaultCredentialsError:
        raise ServiceUnavailable("no Google credentials in this environment to reach BigQuery or Cloud Storage",
                                 details=[{"field": "service", "problem": "no credentials"}]) from None
