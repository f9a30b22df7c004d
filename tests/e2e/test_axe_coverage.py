"""axe checks every page (issue 16): each URL pattern that answers GET is in test_axe.py's
``PAGES``, ``LOCK_PAGES``, ``OIDC_PAGES`` or ``MAIL_PAGES`` (checked by axe in French and in
Dutch) or in its ``NOT_PAGES``, with the reason it is no page (JSON, a file, a redirect). A new
page fails here until the axe test visits it. No browser: this runs with the unit tests."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from tests.e2e.test_axe import LOCK_PAGES, MAIL_PAGES, NOT_PAGES, OIDC_PAGES, PAGES


def _patterns(patterns: list[Any], namespace: str = "") -> Iterator[tuple[str, Any]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns, f"{p.namespace}:" if p.namespace else namespace)
        elif isinstance(p, URLPattern):
            yield f"{namespace}{p.name}", p.callback


def _answers_get(view: Any) -> bool:
    """Refused unless posted: ``require_POST``, or ``require_http_methods`` without GET."""
    try:
        source = inspect.getsource(view)
    except (OSError, TypeError):
        return True
    decorators = [line.strip() for line in source.splitlines() if line.strip().startswith("@")]
    for line in decorators:
        if line == "@require_POST":
            return False
        if line.startswith("@require_http_methods(") and '"GET"' not in line:
            return False
    return True


def get_pages() -> set[str]:
    return {name for name, view in _patterns(get_resolver().url_patterns) if _answers_get(view)}


def test_axe_checks_every_page_that_answers_get() -> None:
    pages = get_pages()
    checked = PAGES | LOCK_PAGES | OIDC_PAGES | MAIL_PAGES
    assert len(checked) == len(PAGES) + len(LOCK_PAGES) + len(OIDC_PAGES) + len(MAIL_PAGES)
    assert pages - checked - set(NOT_PAGES) == set(), "pages no axe test visits"
    assert (checked | set(NOT_PAGES)) - pages == set(), "names of no GET page (renamed? posted?)"
    assert checked & set(NOT_PAGES) == set()
    assert all(reason.strip() for reason in NOT_PAGES.values())


def test_the_walk_tells_posted_views_from_pages() -> None:
    """The decorator reading is itself checked: a posted action and a page, known both ways."""
    pages = get_pages()
    assert "accounts:logout" not in pages and "audit:export" not in pages
    assert {"home", "patients:search", "access:reviews", "audit:report_pdf"} <= pages
