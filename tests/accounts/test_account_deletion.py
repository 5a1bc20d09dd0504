import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from accounts import services
from accounts.models import Address, User
from orders.models import Order
from tests.accounts.factories import DEFAULT_PASSWORD, AddressFactory
from tests.accounts.helpers import logged_in_user_id
from tests.orders.factories import OrderFactory

DELETE_URL = reverse("accounts:delete")


def user_state(user: User) -> tuple:
    user.refresh_from_db()
    return (user.email, user.full_name, user.password, user.is_active, user.deleted_at)


def test_delete_page_asks_for_the_password(customer_client):
    response = customer_client.get(DELETE_URL)

    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_delete_with_a_wrong_password_is_refused_and_changes_nothing(customer_client, customer):
    # given
    AddressFactory(user=customer, is_default=True)
    before = user_state(customer)

    # when
    response = customer_client.post(DELETE_URL, {"password": "not my password"})

    # then
    assert response.status_code == 400
    assert response.context["form"].errors == {"password": ["That is not your password."]}
    assert user_state(customer) == before
    assert Address.objects.filter(user=customer).count() == 1
    assert logged_in_user_id(customer_client) == customer.pk


def test_delete_anonymises_the_account(customer_client, customer):
    response = customer_client.post(DELETE_URL, {"password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("catalog:home")
    customer.refresh_from_db()
    assert customer.email == f"deleted-{customer.pk}@deleted.invalid"
    assert customer.full_name == ""
    assert not customer.has_usable_password()
    assert not customer.is_active
    assert customer.deleted_at is not None
    assert User.objects.count() == 1


def test_delete_logs_the_customer_out(customer_client, customer):
    customer_client.post(DELETE_URL, {"password": DEFAULT_PASSWORD})

    assert logged_in_user_id(customer_client) is None
    assert customer_client.get(reverse("accounts:account")).status_code == 302


def test_delete_removes_the_saved_addresses(customer_client, customer, other_customer):
    AddressFactory.create_batch(2, user=customer)
    theirs = AddressFactory(user=other_customer)

    customer_client.post(DELETE_URL, {"password": DEFAULT_PASSWORD})

    assert list(Address.objects.all()) == [theirs]


def test_delete_keeps_orders_with_the_email_they_were_placed_with(customer_client, customer):
    order = OrderFactory(customer=customer)

    customer_client.post(DELETE_URL, {"password": DEFAULT_PASSWORD})

    order.refresh_from_db()
    assert order.email == "ada@example.com"
    assert order.customer_id == customer.pk
    assert Order.objects.count() == 1


def test_delete_drops_staff_rights(customer_client, customer):
    User.objects.filter(pk=customer.pk).update(is_staff=True, is_superuser=True)

    customer_client.post(DELETE_URL, {"password": DEFAULT_PASSWORD})

    customer.refresh_from_db()
    assert (customer.is_staff, customer.is_superuser) == (False, False)


def test_the_email_of_a_deleted_account_can_sign_up_again(client, customer):
    services.delete_account(user=customer)

    response = client.post(
        reverse("accounts:signup"), {"email": "Ada@Example.com", "password": "tangerine-orbit-lantern-42"}
    )

    assert response.status_code == 302
    assert User.objects.filter(email="ada@example.com").exclude(pk=customer.pk).count() == 1
    assert User.objects.count() == 2


def test_delete_account_twice_keeps_the_same_state(customer):
    services.delete_account(user=customer)
    after_first = user_state(customer)

    services.delete_account(user=customer)

    assert user_state(customer) == after_first


def test_deleting_a_user_row_that_has_orders_is_refused(customer):
    OrderFactory(customer=customer)

    with pytest.raises(ProtectedError):
        customer.delete()

    assert User.objects.filter(pk=customer.pk).exists()
    assert Order.objects.filter(customer=customer).count() == 1
