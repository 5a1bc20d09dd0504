"""shop/csrf_tokens.py: a new visitor's CSRF secret and each token's mask from one read of the
random source, with Django's alphabet and odds, and Django still checking what it makes."""

from collections import Counter

from django.middleware import csrf
from django.test import Client, RequestFactory

from shop import csrf_tokens


def test_every_character_is_as_likely_as_every_other():
    made = csrf_tokens.characters(bytes(range(256)))
    assert len(made) == 248  # the 8 byte values above 62 * 4 are dropped
    assert Counter(made) == dict.fromkeys(csrf.CSRF_ALLOWED_CHARS, 4)


def test_a_string_is_32_characters_of_the_alphabet_and_refills_when_bytes_are_dropped(monkeypatch):
    reads = iter([bytes([255] * 30 + list(range(10))), bytes(range(40, 80))])
    monkeypatch.setattr(csrf_tokens.secrets, "token_bytes", lambda n: next(reads)[:n])
    made = csrf_tokens.random_csrf_string()
    expected = csrf_tokens.characters(bytes(range(10)) + bytes(range(40, 62)))
    assert made == expected and len(made) == 32


def test_django_makes_a_new_visitors_secret_and_each_mask_with_it(monkeypatch):
    drawn = iter([bytes([0] * 40), bytes([1] * 40)])  # the secret "aaaa...", then the mask "bbbb..."
    monkeypatch.setattr(csrf_tokens.secrets, "token_bytes", lambda n: next(drawn)[:n])
    request = RequestFactory().get("/")
    token = csrf.get_token(request)
    assert request.META["CSRF_COOKIE"] == "a" * 32
    assert token[:32] == "b" * 32
    assert csrf._unmask_cipher_token(token) == "a" * 32


def test_fresh_random_strings_differ():
    made = {csrf_tokens.random_csrf_string() for _ in range(200)}
    assert len(made) == 200
    assert all(len(s) == 32 and set(s) <= set(csrf.CSRF_ALLOWED_CHARS) for s in made)


def test_a_token_from_a_page_is_accepted_and_a_forged_one_refused(db):
    visitor = Client(enforce_csrf_checks=True)
    visitor.get("/accounts/login/")
    secret = visitor.cookies["csrftoken"].value
    assert len(secret) == 32
    good = csrf._mask_cipher_secret(secret)
    forged = csrf_tokens.random_csrf_string(64)
    form = {"username": "nobody@example.com", "password": "wrong"}
    assert visitor.post("/accounts/login/", {**form, "csrfmiddlewaretoken": forged}).status_code == 403
    assert visitor.post("/accounts/login/", {**form, "csrfmiddlewaretoken": good}).status_code == 200
