from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from accounts.models import User
from tests.accounts.factories import AddressFactory

CHANGELIST_URL = reverse("admin:accounts_user_changelist")


def test_superuser_sees_the_user_list(superuser_client, customer):
    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert "ada@example.com" in response.content.decode()


def test_superuser_sees_a_users_change_page(superuser_client, customer):
    AddressFactory(user=customer, line1="1 Admin Row", is_default=True)

    response = superuser_client.get(reverse("admin:accounts_user_change", args=[customer.pk]))

    assert response.status_code == 200
    assert 'value="ada@example.com"' in response.content.decode()
    assert "1 Admin Row" in response.content.decode()


def test_customer_cannot_open_the_admin(customer_client):
    response = customer_client.get(CHANGELIST_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_anonymise_action_anonymises_the_selected_users(superuser_client, customer, other_customer):
    # given
    AddressFactory(user=customer, is_default=True)

    # when
    response = superuser_client.post(
        CHANGELIST_URL, {"action": "anonymise_accounts", ACTION_CHECKBOX_NAME: [customer.pk]}, follow=True
    )

    # then
    assert response.status_code == 200
    assert "1 account(s) anonymised." in response.content.decode()
    customer.refresh_from_db()
    assert customer.email == f"deleted-{customer.pk}@deleted.invalid"
    assert not customer.is_active
    assert customer.deleted_at is not None
    assert not customer.addresses.exists()
    other_customer.refresh_from_db()
    assert (other_customer.email, other_customer.deleted_at) == ("grace@example.com", None)


def test_admin_offers_no_bulk_delete_for_users(superuser_client, customer):
    response = superuser_client.get(CHANGELIST_URL)

    choices = [value for value, _ in response.context["action_form"].fields["action"].choices]
    assert "anonymise_accounts" in choices
    assert "delete_selected" not in choices


def test_admin_delete_page_for_a_user_is_forbidden(superuser_client, customer):
    response = superuser_client.post(reverse("admin:accounts_user_delete", args=[customer.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert User.objects.filter(pk=customer.pk, email="ada@example.com").exists()


def test_admin_stores_a_new_users_email_in_lower_case(superuser_client):
    inline_management_form = {"addresses-TOTAL_FORMS": "0", "addresses-INITIAL_FORMS": "0"}

    response = superuser_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "Bob@Example.COM", "usable_password": "false", **inline_management_form},
    )

    assert response.status_code == 302
    assert User.objects.filter(email="bob@example.com").exists()


def test_admin_refuses_an_email_that_differs_from_an_existing_one_only_in_case(superuser_client, customer):
    inline_management_form = {"addresses-TOTAL_FORMS": "0", "addresses-INITIAL_FORMS": "0"}

    response = superuser_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "ADA@example.com", "usable_password": "false", **inline_management_form},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
