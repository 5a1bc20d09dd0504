"""Every write of the accounts app: sign-up, addresses, e-mail verification, account deletion."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import selectors, verification
from accounts.emails import same_email
from accounts.exceptions import AccountLimitReached, EmailAlreadyRegistered, InvalidAddress, InvalidVerificationLink
from accounts.models import Address, User
from accounts.signals import email_verified
from accounts.tasks import send_account_email_task
from shop.email_addresses import normalize_email
from shop.idempotency import Created, IdempotencyRequest, referenced_pk
from shop.idempotency import claim as idempotency_claim
from shop.idempotency import complete as idempotency_complete

MAX_ADDRESSES_PER_USER = 20


@transaction.atomic(durable=True)
def register_user(*, email: str, password: str, full_name: str = "") -> User:
    """Create a customer account. Raises EmailAlreadyRegistered when the address's normal form
    (shop.email_addresses: NFKC, lower case) is already an account's."""
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise EmailAlreadyRegistered()
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, full_name=full_name.strip())
    except IntegrityError as exc:  # a concurrent sign-up with the same address won the race
        raise EmailAlreadyRegistered() from exc


@dataclass(frozen=True)
class AddressData:
    full_name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""
    phone: str = ""

    @classmethod
    def of(cls, address) -> AddressData:
        """The fields of a saved Address (or anything with the same attributes)."""
        return cls(**{name: getattr(address, name) for name in cls.__dataclass_fields__})


def clean_address(data: AddressData) -> AddressData:
    """The address with surrounding spaces trimmed, checked by the Address model's own rules
    (required fields, lengths, a known country). Raises InvalidAddress naming each field
    as "address.<field>". Writes nothing; checkout calls it for an address it only copies."""
    trimmed = AddressData(**{name: value.strip() for name, value in data.__dict__.items()})
    try:
        Address(**trimmed.__dict__).full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidAddress(exc.message_dict) from exc
    return trimmed


@transaction.atomic(durable=True)
def add_address(
    *, user: User, data: AddressData, make_default: bool = False, idempotency: IdempotencyRequest | None = None
) -> Created[Address]:
    """Save a new address; the first one becomes the default. Raises AccountLimitReached.

    Idempotent per key: a replay returns the address the first request created (created=False).
    """
    selectors.lock_user(user_id=user.pk)  # serialises concurrent adds of one customer
    if (ref := idempotency_claim(idempotency)) is not None:
        return Created(selectors.get_address_for_user(user=user, address_id=referenced_pk(ref)), created=False)
    existing = Address.objects.filter(user=user).count()
    if existing >= MAX_ADDRESSES_PER_USER:
        raise AccountLimitReached()
    address = Address(user=user, **data.__dict__)
    address.full_clean()
    address.save()
    if make_default or existing == 0:
        _make_default(address)
    idempotency_complete(idempotency, address)
    return Created(address, created=True)


@transaction.atomic(durable=True)
def update_address(*, user: User, address_id: int, data: AddressData, make_default: bool = False) -> Address:
    """Change one of the user's own addresses. Raises AddressNotFound for anyone else's."""
    selectors.lock_user(user_id=user.pk)
    address = selectors.get_address_for_user(user=user, address_id=address_id)
    for field, value in data.__dict__.items():
        setattr(address, field, value)
    address.full_clean()
    address.save()
    if make_default:
        _make_default(address)
    return address


def _make_default(address: Address) -> None:
    # The partial unique index allows one default per user: clear the old one first.
    Address.objects.filter(user_id=address.user_id, is_default=True).exclude(pk=address.pk).update(is_default=False)
    Address.objects.filter(pk=address.pk).update(is_default=True)
    address.is_default = True


@transaction.atomic(durable=True)
def delete_address(*, user: User, address_id: int) -> None:
    """Delete one of the user's addresses; the newest remaining one becomes the default."""
    selectors.lock_user(user_id=user.pk)
    address = selectors.get_address_for_user(user=user, address_id=address_id)
    was_default = address.is_default
    address.delete()
    if was_default:
        newest = Address.objects.filter(user=user).order_by("-created_at", "-pk").first()
        if newest:
            Address.objects.filter(pk=newest.pk).update(is_default=True)


@transaction.atomic(durable=True)
def delete_account(*, user: User) -> User:
    """Anonymise the account and keep the row, so orders still refer to it.

    Personal data goes (name, e-mail, password, saved addresses); orders keep the e-mail and
    address they snapshotted when they were placed, and nothing cascades away. The account can
    no longer log in, and its address becomes free for a new sign-up. Idempotent.
    """
    user = selectors.lock_user(user_id=user.pk)
    if user.is_deleted:
        return user
    Address.objects.filter(user=user).delete()
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.full_name = ""
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.deleted_at = timezone.now()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
    revoke_refresh_tokens(user=user)
    return user


def revoke_refresh_tokens(*, user: User) -> int:
    """Blacklist every refresh token the user's apps hold (after a password reset or deletion).

    Runs in the caller's transaction; returns how many were newly revoked.
    """
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(revoked)


@transaction.atomic(durable=True)
def update_profile(*, user: User, full_name: str) -> User:
    """Change the customer's display name."""
    user = selectors.lock_user(user_id=user.pk)
    user.full_name = full_name.strip()
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name"])
    return user


def request_email_verification(*, user: User) -> None:
    """E-mail a signed link to the account's address; opening it proves the address is theirs
    (verify_email). Sent on the `email` queue after the caller's commit (at once outside one); a
    broker that refuses it is logged, never raised (a sign-in must not fail for it; the customer
    can ask again). Every link stays valid until one of them is used or it expires."""
    context = {
        "email": user.email,
        "url": verification.verification_url(user),
        "shop_name": settings.SHOP_NAME,
        "valid_days": max(1, settings.ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE // 86400),
    }
    subject = "".join(render_to_string("accounts/email/verify_email_subject.txt", context).splitlines())
    body = render_to_string("accounts/email/verify_email.txt", context)
    to_email = user.email
    transaction.on_commit(
        lambda: send_account_email_task.delay(subject=subject, body=body, to_email=to_email), robust=True
    )


def check_verification_link(*, token: str) -> User:
    """The account a verification link would verify, without using it (the confirmation page).
    Raises InvalidVerificationLink, VerificationLinkExpired."""
    claim = verification.read_token(token)
    user = User.objects.filter(pk=claim.user_id).first()
    _check_claim(claim, user)
    return user


@transaction.atomic(durable=True)
def verify_email(*, token: str) -> User:
    """Mark the account's address verified from a link e-mailed to it, once: the link stops working
    when it is used (the verification state it signed moves on), when it is older than
    ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE, or when the account's address changed since. Sends
    `email_verified` on commit. Locks the user row. Raises InvalidVerificationLink,
    VerificationLinkExpired; a refusal changes nothing."""
    claim = verification.read_token(token)
    try:
        user = selectors.lock_user(user_id=claim.user_id)
    except User.DoesNotExist:
        user = None
    _check_claim(claim, user)
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    email = user.email
    transaction.on_commit(lambda: email_verified.send(sender=User, user=user, email=email))
    return user


def _check_claim(claim: verification.VerificationClaim, user: User | None) -> None:
    if user is None or user.is_deleted or not user.is_active or not same_email(claim.email, user.email):
        raise InvalidVerificationLink()
    if claim.state != verification.state_of(user):  # verified with this link (or a later one) already
        raise InvalidVerificationLink("This link was used already. Ask for a new one if you need it.")
