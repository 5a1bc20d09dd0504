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
