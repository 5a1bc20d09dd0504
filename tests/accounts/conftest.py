import pytest

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture
def customer(db):
    return UserFactory(email="ada@example.com", full_name="Ada Lovelace")


@pytest.fixture
def customer_client(client, customer):
    assert client.login(username=customer.email, password=DEFAULT_PASSWORD)
    return client


@pytest.fixture
def other_customer(db):
    return UserFactory(email="grace@example.com", full_name="Grace Hopper")


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(superuser=True, email="boss@example.com"))
    return client


# --- API (tests/accounts/test_api_*.py) -----------------------------------------------------


@pytest.fixture
def api_client():
    """An anonymous app client (JSON bodies with format="json")."""
    from rest_framework.test import APIClient

    return APIClient()


def _bearer_client(user):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def customer_api(customer):
    """An app signed in as `customer` with a real JWT access token."""
    return _bearer_client(customer)


@pytest.fixture
def other_customer_api(other_customer):
    """An app signed in as `other_customer` with a real JWT access token."""
    return _bearer_client(other_customer)
