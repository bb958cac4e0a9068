"""The shared report layer: autoescaping, the inlined stylesheet, strict variables."""

from __future__ import annotations

import jinja2
import pytest

from riskscore import report


def test_pages_extend_base_with_inline_stylesheet_and_csp():
    env = report.environment()
    page = env.from_string('{% extends "base.html" %}{% block body %}<p>{{ text }}</p>{% endblock %}')
    html = page.render(title="T & C", text="<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<title>T &amp; C</title>" in html
    assert "--ink:" in html  # style.css inlined, not linked
    assert 'http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;' in html


def test_missing_variable_is_an_error():
    with pytest.raises(jinja2.UndefinedError, match="title"):
        report.render("base.html")
