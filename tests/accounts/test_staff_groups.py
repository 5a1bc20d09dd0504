"""Staff powers follow Django groups: created with their permissions by migrate, enforced by admin."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.receivers import ensure_staff_groups
from accounts.staff import STAFF_GROUPS
from tests.accounts.factories import UserFactory


def permissions_of(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.mark.django_db
def test_migrate_creates_every_staff_group_with_exactly_its_permissions():
    # The test database was built by `migrate` on an empty database.
    assert set(Group.objects.values_list("name", flat=True)) >= set(STAFF_GROUPS)
    for name, codes in STAFF_GROUPS.items():
        assert permissions_of(Group.objects.get(name=name)) == set(codes), name


@pytest.mark.django_db
def test_running_the_receiver_again_changes_nothing():
    before = {name: permissions_of(Group.objects.get(name=name)) for name in STAFF_GROUPS}
    ensure_staff_groups(sender=None)
    assert {name: permissions_of(Group.objects.get(name=name)) for name in STAFF_GROUPS} == before
    assert Group.objects.filter(name__in=STAFF_GROUPS).count() == len(STAFF_GROUPS)


@pytest.mark.django_db
def test_a_group_member_holds_the_groups_permissions():
    user = UserFactory(staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    assert user.has_perm("orders.refund_order")
    assert not user.has_perm("inventory.adjust_stock")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("group", "permission", "held"),
    [
        ("Support", "orders.cancel_order", True),
        ("Support", "orders.resend_order_email", True),
        ("Support", "orders.mark_shipped", False),
        ("Support", "shop.retry_deadletter", False),
        ("Fulfilment", "orders.mark_shipped", True),
        ("Fulfilment", "shop.view_deadletter", True),
        ("Fulfilment", "shop.retry_deadletter", True),
        ("Fulfilment", "orders.resend_order_email", False),
        ("Catalog managers", "orders.cancel_order", False),
    ],
)
def test_order_and_dead_letter_actions_go_to_the_groups_that_do_that_work(group, permission, held):
    user = UserFactory(staff=True)
    user.groups.add(Group.objects.get(name=group))
    assert user.has_perm(permission) is held


@pytest.mark.django_db
def test_support_may_view_customers_but_not_run_the_anonymise_action(client):
    # given: a support agent (view_user only) and a customer
    agent = UserFactory(staff=True)
    agent.groups.add(Group.objects.get(name="Support"))
    customer = UserFactory(email="kept@example.com")
    client.force_login(agent)
    changelist = reverse("admin:accounts_user_changelist")
    # when
    page = client.get(changelist)
    client.post(changelist, {"action": "anonymise_accounts", ACTION_CHECKBOX_NAME: [customer.pk]})
    # then: the list shows, the action is not offered and did nothing
    assert page.status_code == 200
    action_form = page.context["action_form"]  # None when no action at all is offered
    assert action_form is None or "anonymise_accounts" not in dict(action_form.fields["action"].choices)
    customer.refresh_from_db()
    assert customer.email == "kept@example.com"
