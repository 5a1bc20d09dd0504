"""Dead letters: a task that fails for good is recorded once, and staff with the permission retry it."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import constants as message_levels
from django.db import OperationalError
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerError

from shop import deadletters
from shop.celery import app
from shop.models import DeadLetter
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:shop_deadletter_changelist")

# How many more times each test task fails before it succeeds; set by the tests.
failures_left = {"tests.fails_then_succeeds": 0, "tests.succeeds_when_retried": 0}
calls: list[tuple] = []


@app.task(name="tests.always_fails")
def always_fails(*args, **kwargs) -> None:
    raise ValueError("the parcel service is down")


@app.task(name="tests.fails_then_succeeds", autoretry_for=(ValueError,), max_retries=3, default_retry_delay=0)
def fails_then_succeeds(*, order_id: int) -> str:
    return _fail_or_succeed("tests.fails_then_succeeds", order_id)


@app.task(name="tests.succeeds_when_retried")
def succeeds_when_retried(order_id: int, *, kind: str) -> str:
    return _fail_or_succeed("tests.succeeds_when_retried", order_id, kind)


def _fail_or_succeed(name: str, *args) -> str:
    calls.append((name, *args))
    if failures_left[name] > 0:
        failures_left[name] -= 1
        raise ValueError(f"{name} failed")
    return "done"


@pytest.fixture(autouse=True)
def _reset_test_tasks():
    calls.clear()
    yield
    failures_left.update(dict.fromkeys(failures_left, 0))


@pytest.fixture
def retrier(client):
    """A staff client who may see dead letters and retry them."""
    user = UserFactory(staff=True, email="ops@example.com")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="shop", codename__in=["view_deadletter", "retry_deadletter"])
    )
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(superuser=True, email="boss@example.com"))
    return client


@pytest.fixture
def viewer(client):
    """A staff client who may only look at dead letters."""
    user = UserFactory(staff=True, email="viewer@example.com")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="shop", codename="view_deadletter"))
    client.force_login(user)
    return client


def failed_once(task_name: str = "tests.succeeds_when_retried") -> DeadLetter:
    """A dead letter left by one real failure of the test task."""
    failures_left[task_name] = 1
    result = app.tasks[task_name].apply(args=[7], kwargs={"kind": "received"}, throw=False)
    assert result.failed()
    return DeadLetter.objects.get()


def retry_in_admin(client, letters: list[DeadLetter]):
    return client.post(
        CHANGELIST_URL, {"action": "retry", ACTION_CHECKBOX_NAME: [letter.pk for letter in letters]}, follow=True
    )


def shown_messages(response) -> list[tuple[str, str]]:
    return [(message_levels.DEFAULT_TAGS[m.level], m.message) for m in response.context["messages"]]


# --- Recording -----------------------------------------------------------------------------------


def test_a_task_that_fails_for_good_is_recorded_once_with_its_arguments_and_error():
    result = always_fails.apply(args=[42, "SO-ABCDE-FGHJK"], kwargs={"kind": "received"}, throw=False)

    assert result.failed()
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.task_id) == ("tests.always_fails", result.id)
    assert (letter.args, letter.kwargs) == ([42, "SO-ABCDE-FGHJK"], {"kind": "received"})
    assert letter.error == "ValueError: the parcel service is down"
    assert "raise ValueError" in letter.traceback
    assert letter.retried_at is None


def test_a_task_that_fails_past_its_retries_is_recorded_once():
    app.conf.task_eager_propagates = False  # as in a worker (the autouse fixture restores it)
    failures_left["tests.fails_then_succeeds"] = 10

    result = fails_then_succeeds.apply(kwargs={"order_id": 5}, throw=False)

    assert result.failed()
    assert len(calls) == 4  # the first run and its 3 retries
    assert list(DeadLetter.objects.values_list("task_name", "kwargs")) == [
        ("tests.fails_then_succeeds", {"order_id": 5})
    ]


def test_a_task_that_retries_then_succeeds_records_nothing():
    app.conf.task_eager_propagates = False
    failures_left["tests.fails_then_succeeds"] = 2

    result = fails_then_succeeds.apply(kwargs={"order_id": 5})

    assert result.get() == "done"
    assert len(calls) == 3
    assert DeadLetter.objects.count() == 0


def test_a_database_error_while_recording_never_raises(monkeypatch):
    def database_down(**fields):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DeadLetter.objects, "create", database_down)

    letter = deadletters.record(
        task_name="tests.always_fails", task_id="t-1", args=[1], kwargs={}, exc=ValueError("x"), traceback="tb"
    )
    result = always_fails.apply(args=[1], throw=False)  # the task's own failure still comes through

    assert letter is None
    assert result.failed() and isinstance(result.result, ValueError)
    assert DeadLetter.objects.count() == 0


@pytest.mark.postgres
def test_arguments_the_database_refuses_are_not_recorded_and_the_transaction_goes_on():
    # PostgreSQL's jsonb cannot hold a NUL character: the insert fails inside its savepoint.
    letter = deadletters.record(
        task_name="tests.always_fails", task_id="t-1", args=["\x00"], kwargs={}, exc=ValueError("x"), traceback=""
    )

    assert letter is None
    assert DeadLetter.objects.count() == 0  # the caller's transaction is still usable


def test_arguments_json_cannot_hold_are_recorded_as_text():
    looping: list = []
    looping.append(looping)

    letter = deadletters.record(
        task_name="tests.always_fails", task_id="", args=[object(), looping], kwargs={}, exc=ValueError(), traceback=""
    )

    assert isinstance(letter.args, str) and letter.args.startswith("[<object object")


# --- Retrying ------------------------------------------------------------------------------------


def test_retry_in_admin_runs_the_task_again_and_marks_the_letter_retried(retrier):
    # given: a task that failed once and now succeeds
    letter = failed_once()

    # when
    response = retry_in_admin(retrier, [letter])

    # then
    assert shown_messages(response) == [("success", f"Sent again: #{letter.pk} tests.succeeds_when_retried.")]
    assert calls == [("tests.succeeds_when_retried", 7, "received")] * 2
    letter.refresh_from_db()
    assert letter.retried_at is not None and letter.retried_task_id
    assert DeadLetter.objects.count() == 1  # it worked: no new dead letter


@pytest.mark.parametrize("propagates", [True, False])
def test_a_retry_that_fails_again_warns_and_becomes_a_new_dead_letter(retrier, propagates):
    # given: a dead letter whose task fails again; eager mode that raises its errors or not
    letter = failed_once()
    app.conf.task_eager_propagates = propagates
    failures_left["tests.succeeds_when_retried"] = 1

    response = retry_in_admin(retrier, [letter])

    assert response.status_code == 200
    assert shown_messages(response) == [
        (
            "warning",
            f"#{letter.pk} tests.succeeds_when_retried failed again: ValueError: tests.succeeds_when_retried failed",
        )
    ]
    letter.refresh_from_db()
    new = DeadLetter.objects.exclude(pk=letter.pk).get()
    assert new.task_id == letter.retried_task_id
    assert (new.args, new.kwargs, new.retried_at) == ([7], {"kind": "received"}, None)


def test_a_retry_the_broker_refuses_leaves_the_letter_to_retry_later(monkeypatch):
    # given: a real broker that is down
    letter = failed_once()
    app.conf.task_always_eager = False  # the autouse fixture turns it back on

    def broker_down(*args, **kwargs):
        raise BrokerError("[Errno 111] Connection refused")

    monkeypatch.setattr(succeeds_when_retried, "apply_async", broker_down)

    # when / then
    with pytest.raises(deadletters.RetryFailed, match="could not be sent again: OperationalError"):
        deadletters.retry(dead_letter_id=letter.pk)
    letter.refresh_from_db()
    assert (letter.retried_at, letter.retried_task_id) == (None, "")


def test_staff_without_the_retry_permission_cannot_retry(viewer):
    letter = failed_once()

    page = viewer.get(CHANGELIST_URL)
    response = retry_in_admin(viewer, [letter])

    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action offered at all
    assert response.status_code == 200
    assert len(calls) == 1  # only the original failure ran
    letter.refresh_from_db()
    assert letter.retried_at is None


# --- The admin screens ---------------------------------------------------------------------------


def test_the_detail_page_shows_the_task_its_error_times_and_traceback_read_only(viewer):
    letter = failed_once()

    response = viewer.get(reverse("admin:shop_deadletter_change", args=[letter.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "tests.succeeds_when_retried" in html
    assert "ValueError: tests.succeeds_when_retried failed" in html
    assert "<pre" in html and "Traceback (most recent call last)" in html
    assert "Failed at" in html and "Retried at" in html
    assert 'name="_save"' not in html


def test_nobody_adds_or_deletes_dead_letters(superuser_client):
    letter = failed_once()

    add = superuser_client.get(reverse("admin:shop_deadletter_add"))
    delete = superuser_client.post(reverse("admin:shop_deadletter_delete", args=[letter.pk]), {"post": "yes"})

    assert (add.status_code, delete.status_code) == (403, 403)
    assert DeadLetter.objects.filter(pk=letter.pk).exists()
