"""`{% memo %}` (shop/fragments.py): a page part kept per the values it names."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils.safestring import mark_safe

from shop import fragments


@pytest.fixture(autouse=True)
def _empty():
    fragments.clear()
    yield
    fragments.clear()


PART = Template("{% load storefront %}{% memo a %}{{ a }}-{{ b }}{% endmemo %}")


def test_a_part_is_kept_per_its_values_and_rendered_again_when_one_changes(settings):
    settings.FRAGMENT_CHECK = False
    assert PART.render(Context({"a": 1, "b": "x"})) == "1-x"
    # b is not named: the kept part is served (what FRAGMENT_CHECK catches, below)
    assert PART.render(Context({"a": 1, "b": "y"})) == "1-x"
    assert PART.render(Context({"a": 2, "b": "y"})) == "2-y"


def test_the_check_finds_a_value_a_part_shows_but_does_not_name(settings):
    settings.FRAGMENT_CHECK = True
    assert PART.render(Context({"a": 1, "b": "x"})) == "1-x"
    assert PART.render(Context({"a": 1, "b": "x"})) == "1-x"
    with pytest.raises(fragments.FragmentCheckFailed):
        PART.render(Context({"a": 1, "b": "y"}))


def test_two_parts_with_the_same_values_are_kept_apart():
    both = Template(
        "{% load storefront %}{% memo a %}first {{ a }}{% endmemo %} {% memo a %}second {{ a }}{% endmemo %}"
    )
    assert both.render(Context({"a": 1})) == "first 1 second 1"


@dataclasses.dataclass(frozen=True)
class Shown:
    status: str
    quantity: int


def test_keys_tell_apart_what_renders_differently():
    assert fragments.frozen(True) != fragments.frozen(1)
    assert fragments.frozen(1) != fragments.frozen(1.0) != fragments.frozen(Decimal("1"))
    assert fragments.frozen(Decimal("10")) != fragments.frozen(Decimal("10.00"))  # "10" and "10.00"
    assert fragments.frozen({1: "a"}) != fragments.frozen({True: "a"})
    assert fragments.frozen(mark_safe("<b>")) != fragments.frozen("<b>")
    assert fragments.frozen({"a": [1, 2]}) != fragments.frozen({"a": (1, 2)})
    assert fragments.frozen(Shown("low_stock", 3)) != fragments.frozen(Shown("low_stock", 2))
    assert fragments.frozen({"cards": [{"id": 1, "availability": Shown("in_stock", 9)}]}) == fragments.frozen(
        {"cards": [{"id": 1, "availability": Shown("in_stock", 9)}]}
    )
    with pytest.raises(TypeError, match="name the values it shows"):
        fragments.frozen(object())


def test_a_missing_value_and_none_are_kept_apart():
    part = Template("{% load storefront %}{% memo a %}[{{ a }}]{% endmemo %}")
    assert part.render(Context({"a": None})) == "[None]"
    assert part.render(Context({})) == "[]"


def test_the_csrf_placeholder_is_new_in_every_process_so_no_visitor_can_type_it():
    show = [sys.executable, "-c", "from shop import fragments; print(fragments.CSRF_PLACEHOLDER)"]
    first, second = (subprocess.run(show, capture_output=True, text=True, check=True).stdout for _ in range(2))
    assert first.startswith("csrf-placeholder-") and first != second


def test_a_kept_part_carries_each_renderings_own_csrf_token():
    form = Template("{% load storefront %}{% memo a %}<form>{% csrf_token %}{{ a }}</form>{% endmemo %}")
    first = form.render(Context({"a": 1, "csrf_token": "token-of-ada"}))
    second = form.render(Context({"a": 1, "csrf_token": "token-of-bob"}))
    assert 'value="token-of-ada"' in first and "bob" not in first
    assert 'value="token-of-bob"' in second and "ada" not in second
    assert fragments.CSRF_PLACEHOLDER not in second
    # without a request (an e-mail, a test render) there is no token and no placeholder
    assert form.render(Context({"a": 1})) == "<form>1</form>"


def test_the_least_recently_used_parts_go_when_the_budget_is_spent(monkeypatch, settings):
    settings.FRAGMENT_CHECK = False
    monkeypatch.setattr(fragments, "MAX_BYTES", 3 * fragments._cost("one") + 1)
    part = Template("{% load storefront %}{% memo a %}{{ a }}{{ b }}{% endmemo %}")
    for a in ("one", "two", "six"):
        part.render(Context({"a": a, "b": ""}))  # all three kept
    part.render(Context({"a": "one", "b": "!"}))  # "one" used again: now the newest
    part.render(Context({"a": "ten", "b": ""}))  # past the budget: the oldest ("two") goes
    assert part.render(Context({"a": "one", "b": "?"})) == "one"  # still kept
    assert part.render(Context({"a": "two", "b": "?"})) == "two?"  # rendered again


def test_the_environment_is_read_once_per_rendering_and_a_new_rendering_reads_it_again(monkeypatch):
    languages = iter(["en-gb", "fr", "fr"])
    monkeypatch.setattr(fragments.translation, "get_language", lambda: next(languages))
    both = Template("{% load storefront %}{% memo %}one{% endmemo %}{% memo %}two{% endmemo %}")
    assert both.render(Context({})) == "onetwo"  # one look-up for both parts
    assert both.render(Context({})) == "onetwo"  # a new rendering: "fr", a new key for each part
    assert len(fragments._parts) == 4


@pytest.mark.django_db
def test_the_footer_shows_the_year_in_the_shops_time_zone_and_follows_it(client, monkeypatch):
    import datetime

    from shop import context_processors

    for year in (2031, 2032):
        monkeypatch.setattr(context_processors.timezone, "localdate", lambda y=year: datetime.date(y, 1, 1))
        assert f"&copy; {year} " in client.get("/accounts/login/").content.decode()
