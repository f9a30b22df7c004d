"""``{% fixed %}`` (issue 17): the navigation and the other parts every page repeats are rendered
once per role's links and language, then given again. Each test tries to make a page show what
another user, another role or another language was given."""

from __future__ import annotations

from typing import Any

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.utils import translation

from secretum.access.policy import Role
from secretum.core.templatetags import fragments
from tests.conftest import client_for, make_user

AUDIT_LINK = 'href="/audit/"'
USERS_LINK = 'href="/accounts/users/"'


def _page(client: Any) -> str:
    return client.get("/patients/").content.decode()


def test_each_role_sees_its_own_links_whichever_page_was_made_first(db: Any) -> None:
    auditor, secretary = make_user(Role.AUDITOR), make_user(Role.SECRETARY)
    for _ in range(2):  # the second round is served from what the first one kept
        assert AUDIT_LINK in client_for(auditor).get("/audit/").content.decode()
        page = _page(client_for(secretary))
        assert AUDIT_LINK not in page and USERS_LINK not in page


def test_a_role_changed_shows_its_links_at_the_next_page(db: Any) -> None:
    """C2: the links follow the role held at this request, never a rendering made for the role
    held before."""
    user = make_user(Role.SECRETARY)
    client = client_for(user)
    assert USERS_LINK not in _page(client)
    user.give_role(Role.MANAGER)
    user.save()
    assert USERS_LINK in client.get("/accounts/users/").content.decode()
    user.give_role(Role.SECRETARY)
    user.save()
    assert USERS_LINK not in _page(client)


def test_each_language_has_its_own_links(db: Any) -> None:
    client = client_for(make_user(Role.SECRETARY))
    with translation.override("en"):
        assert ">New patient</a>" in _page(client)
    client.cookies["django_language"] = "fr"
    page = client.get("/patients/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in page and ">New patient</a>" not in page


def test_only_what_is_named_decides_and_what_is_kept_stays_bounded() -> None:
    template = Template('{% load fragments %}{% fixed "test" n %}[{{ n }}]{% endfixed %}')
    for n in range(fragments._KEPT.most + 50):
        assert template.render(Context({"n": n})) == f"[{n}]"
    assert len(fragments._KEPT) <= fragments._KEPT.most


@pytest.mark.parametrize("tag", ["{% fixed %}", "{% fixed nav %}", "{% fixed \"nav' %}"])
def test_a_fragment_without_a_quoted_name_is_a_template_error(tag: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="quoted name"):
        Template("{% load fragments %}" + tag + "{% endfixed %}")


def test_each_chart_links_to_its_own_record_whichever_chart_was_made_first(db: Any) -> None:
    """A record's actions are kept once with a stand-in uid: every chart, the first one and the
    ones given from what it kept, links to its own patient only, and to no stand-in."""
    from django.urls import reverse

    from secretum.patients import services as patients
    from tests.conftest import actor_for, identity

    doctor = make_user(Role.PRACTITIONER)
    uids = [patients.register_patient(actor_for(doctor), identity()).uid for _ in range(3)]
    client = client_for(doctor)
    for round_ in range(2):
        for uid in uids:
            page = client.get(f"/patients/{uid}/").content.decode()
            for other in uids:
                links = [
                    reverse("patients:edit", args=[other]),
                    reverse("clinical:new", args=[other, "encounter"]),
                    reverse("letters:list", args=[other]),
                ]
                assert all((link in page) == (other == uid) for link in links), round_
            assert fragments._UID_SLOT not in page


def test_a_fragment_given_no_uid_shows_nothing() -> None:
    template = Template(
        '{% load fragments %}{% fixed "test-uid" uid=u %}<a href="/p/{{ uid }}/">{% endfixed %}'
    )
    good = "5f0c2b1e-8c1d-4a8e-9a57-0b8e7c3f4d21"
    assert template.render(Context({"u": good})) == f'<a href="/p/{good}/">'
    for hostile in ('"><script>alert(1)</script>', "", None):
        with pytest.raises(ValueError):
            template.render(Context({"u": hostile}))


@pytest.mark.parametrize(
    "inside",
    [
        "{% block title %}x{% endblock %}",
        "{% if n %}<b>{% block title %}x{% endblock %}</b>{% endif %}",
        '{% fixed "inner" %}{% for i in n %}{% block title %}{% endblock %}{% endfor %}'
        "{% endfixed %}",
    ],
)
def test_a_block_inside_a_fragment_is_a_template_error(inside: str) -> None:
    """What a page puts in a block would be kept and given to every other page."""
    with pytest.raises(TemplateSyntaxError, match="block"):
        Template('{% load fragments %}{% fixed "test" %}' + inside + "{% endfixed %}")


def test_a_page_still_fills_the_blocks_beside_the_fragments() -> None:
    """The fragments are not walked for blocks; the blocks around them are found as before."""
    from django.template import Engine

    engine = Engine(
        loaders=[
            (
                "django.template.loaders.locmem.Loader",
                {
                    "base": "{% load fragments %}<t>{% block title %}-{% endblock %}</t>"
                    '{% fixed "f" %}<nav>{% if 1 %}x{% endif %}</nav>{% endfixed %}'
                    "{% block body %}{% endblock %}",
                    "page": '{% extends "base" %}{% block title %}T{% endblock %}'
                    "{% block body %}B{% endblock %}",
                },
            )
        ],
        libraries={"fragments": "secretum.core.templatetags.fragments"},
    )
    for _ in range(2):
        assert engine.get_template("page").render(Context({})) == "<t>T</t><nav>x</nav>B"
