"""Fixtures of the cart tests: stocked products, carts made by the services, and API clients."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from cart import services
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product


def bearer_client(user) -> APIClient:
    """An app signed in as `user` with a JWT access token of its own (one per device)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def shoe(db):
    return stocked_product(title="Trail shoe", price="50.00")


@pytest.fixture
def sock(db):
    return stocked_product(title="Wool sock", price="5.00")


@pytest.fixture
def customer(db):
    return UserFactory(email="ada@example.com")


@pytest.fixture
def cart(customer):
    """The customer's open cart, empty."""
    return services.get_or_create_cart(user=customer)


@pytest.fixture
def guest_cart(db):
    return services.get_or_create_cart(guest_token="g" * 43)


@pytest.fixture
def customer_api(customer) -> APIClient:
    return bearer_client(customer)


@pytest.fixture
def guest_api(db) -> APIClient:
    """An anonymous app that obtained a guest token and sends it in X-Guest-Token."""
    client = APIClient()
    response = client.post("/api/v1/guest-tokens")
    assert response.status_code == 201
    client.credentials(HTTP_X_GUEST_TOKEN=response.json()["guest_token"])
    return client
