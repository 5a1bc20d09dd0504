"""Test helpers for the Stripe adapter: localstripe on 127.0.0.1, its test cards, 3-D Secure, counts.

localstripe (PyPI) is a fake Stripe API. Its own CLI (`localstripe --port N`) listens on every
interface and pickles its whole store to /tmp/localstripe.pickle after each write (shared by every
instance on the machine), so the tests start it through `serve()` below instead:
`python -m tests.payments.stripe_helpers --port N` listens on 127.0.0.1 only and keeps its store
in memory. `serve()` also teaches localstripe the two confirm parameters of the real API that it
lacks (see `_confirm_like_stripe`); nothing else of localstripe is changed.
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.parse
import urllib.request
from typing import Any

API_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_test_localstripe"

# What localstripe 1.15.10 does with a card number (resources.PaymentMethod):
CARD_OK = "4242424242424242"  # authorizes
CARD_DECLINED = "4000000000000341"  # declined when charged: 402 card_error, code card_declined
CARD_3DS = "4000002500003155"  # requires_action until authenticated (also ...2760003184, ...3220, ...3063)
CARD_3DS_THEN_DECLINED = "4000008260003178"  # requires_action, then declined once authenticated
# 4000000000000002 (Stripe's "generic decline") is declined by localstripe only when *attached to a
# customer*; charged directly it authorizes like 4242424242424242.


def _request(base_url: str, method: str, path: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(  # noqa: S310 (the URL is the local fake server)
        base_url.rstrip("/") + path,
        data=body,
        method=method,
        headers={"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer = response.read()
    return json.loads(answer) if answer else {}


def create_payment_method(base_url: str, number: str = CARD_OK) -> str:
    """A pm_ token at localstripe for a test card number (what Stripe.js would make in the browser)."""
    card = {"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123"}
    return _request(base_url, "POST", "/v1/payment_methods", {"type": "card", **card})["id"]


def authenticate(base_url: str, payment_intent_id: str, client_secret: str, *, success: bool = True) -> dict[str, Any]:
    """Finish (or fail) 3-D Secure as the customer would in the browser (localstripe's fake Stripe.js does this)."""
    data = {"client_secret": client_secret, "success": "true" if success else "false"}
    return _request(base_url, "POST", f"/v1/payment_intents/{payment_intent_id}/_authenticate", data)


def list_payment_intents(base_url: str, reference: str | None = None) -> list[dict[str, Any]]:
    """Every PaymentIntent localstripe holds (paged), or only those whose metadata names `reference`."""
    intents: list[dict[str, Any]] = []
    query = {"limit": "100"}
    while True:
        page = _request(base_url, "GET", "/v1/payment_intents?" + urllib.parse.urlencode(query))
        intents.extend(page["data"])
        if not page["has_more"] or not page["data"]:
            break
        query["starting_after"] = page["data"][-1]["id"]
    if reference is not None:
        intents = [intent for intent in intents if (intent.get("metadata") or {}).get("reference") == reference]
    return intents


def count_payment_intents(base_url: str, reference: str | None = None) -> int:
    """How many PaymentIntents exist at localstripe (for `reference`, when given): one means one charge."""
    return len(list_payment_intents(base_url, reference))


def count_charges(base_url: str, reference: str | None = None) -> int:
    """How many of those PaymentIntents were charged (confirmed and sent to the card)."""
    return sum(1 for intent in list_payment_intents(base_url, reference) if intent.get("latest_charge"))


def list_refunds(base_url: str, payment_intent_id: str) -> list[dict[str, Any]]:
    """The refunds localstripe holds for one PaymentIntent (a partial capture's remainder among them)."""
    query = urllib.parse.urlencode({"payment_intent": payment_intent_id, "limit": "100"})
    return _request(base_url, "GET", f"/v1/refunds?{query}")["data"]


def register_webhook(base_url: str, url: str, secret: str = WEBHOOK_SECRET) -> None:
    """Ask localstripe to POST its events to `url`, signed with `secret` (localstripe's /_config API)."""
    _request(base_url, "POST", "/_config/webhooks/tests", {"url": url, "secret": secret})


def _confirm_like_stripe() -> None:
    """Let localstripe's confirm take `payment_method` and `off_session` as the real API does.

    localstripe 1.15.10 answers 400 to any confirm parameter and 500 to `payment_method`; the real
    API sets the payment method given to confirm (replacing a declined one) and records
    off_session. Patched before localstripe.server builds its routes from `extra_apis`.
    """
    from localstripe import resources
    from localstripe.errors import UserError

    original = resources.PaymentIntent._api_confirm

    def confirm(id=None, payment_method=None, off_session=None, **kwargs):  # localstripe's parameter names
        if resources.try_convert_to_bool(off_session) not in (None, True, False):
            raise UserError(400, "Bad request")
        if payment_method is not None:
            intent = resources.PaymentIntent._api_retrieve(id)
            resources.PaymentMethod._api_retrieve(payment_method)  # 404 when unknown
            if intent.status not in ("requires_payment_method", "requires_confirmation"):
                raise UserError(400, "Bad request", {"code": "payment_intent_unexpected_state"})
            if intent.latest_charge is not None and intent.latest_charge.status == "failed":
                intent.latest_charge = None  # a new attempt with the new payment method
            intent.payment_method = payment_method
        return original(id, **kwargs)

    resources.PaymentIntent._api_confirm = staticmethod(confirm)
    resources.extra_apis[:] = [
        (method, url, confirm if url == "/v1/payment_intents/{id}/confirm" else func)
        for method, url, func in resources.extra_apis
    ]


def serve(port: int) -> None:
    """Run localstripe on 127.0.0.1:port with its store in memory only, until killed."""
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None  # one private store per process
    _confirm_like_stripe()

    from aiohttp import web
    from localstripe import server

    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=serve.__doc__)
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
