"""The one report layer: Jinja2 templates (autoescaped), one stylesheet, one plotting module.

Every page the product renders (model card, drift monitoring page, scoring console) extends
`templates/base.html`, which inlines `style.css`: pages are self-contained files that open
from a bucket or a mail attachment with no network access.

Only Jinja2 (installed with Flask) and the standard library are imported here, so serving
functions can render pages without training dependencies.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["CONTENT_SECURITY_POLICY", "META_CONTENT_SECURITY_POLICY", "environment", "render", "stylesheet"]

# A page may load nothing from elsewhere: images are data URIs or inline SVG. This is the
# policy a served page sends as its HTTP header.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                           "script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
# The policy a page carries in its <meta> tag: browsers ignore frame-ancestors there (and log
# an error saying so), so only the HTTP header of a served page forbids framing.
META_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("; frame-ancestors 'none'", "")


@lru_cache(maxsize=1)
def environment():
    """The shared Jinja2 environment; built on first use (keeps Jinja2 off cold starts that
    never render a page)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("riskscore.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    from riskscore.report.format import FILTERS

    env.filters.update(FILTERS)
    env.globals["stylesheet"] = stylesheet()
    env.globals["csp"] = META_CONTENT_SECURITY_POLICY
    return env


@lru_cache(maxsize=1)
def stylesheet() -> str:
    return resources.files("riskscore.report").joinpath("style.css").read_text(encoding="utf-8")


def render(template: str, **context) -> str:
    """Render `templates/<template>` with autoescaping; a missing variable is an error."""
    return environment().get_template(template).render(**context)
