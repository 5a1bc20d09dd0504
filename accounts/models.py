from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from shop.email_addresses import EMAIL_MAX_LENGTH, normalize_email


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not (extra_fields["is_staff"] and extra_fields["is_superuser"]):
            raise ValueError("A superuser must have is_staff and is_superuser set")
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str) -> User:
        # Addresses are stored in their normal form (shop.email_addresses), so the look-up is
        # exact: iexact would let PostgreSQL's UPPER() fold look-alikes (U+017F LONG S -> "S").
        return self.get(email=normalize_email(username))


class User(AbstractBaseUser, PermissionsMixin):
    """A customer or a staff member; the e-mail address is the login.

    Accounts are never deleted while orders refer to them: deletion anonymises the row
    (`accounts.services.delete_account`), and orders keep the e-mail they snapshotted.
    """

    email = models.EmailField("e-mail address", max_length=EMAIL_MAX_LENGTH, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to the back office.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    email_verified_at = models.DateTimeField(
        "e-mail verified at", null=True, blank=True, editable=False,
        help_text="When the customer last proved the address is theirs (a link e-mailed to it).",
    )  # fmt: skip

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_ci_unique",
                violation_error_message="An account with this e-mail address already exists.",
            )
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        # Addresses are stored in their normal form whichever door creates them (sign-up, admin, API).
        super().clean()
        self.email = normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Country(models.TextChoices):
    # The countries the shop delivers to; extend as the business grows.
    AT = "AT", "Austria"
    BE = "BE", "Belgium"
    DE = "DE", "Germany"
    DK = "DK", "Denmark"
    ES = "ES", "Spain"
    FI = "FI", "Finland"
    FR = "FR", "France"
    GB = "GB", "United Kingdom"
    IE = "IE", "Ireland"
    IT = "IT", "Italy"
    LU = "LU", "Luxembourg"
    NL = "NL", "Netherlands"
    PL = "PL", "Poland"
    PT = "PT", "Portugal"
    SE = "SE", "Sweden"


def country_name(code: str) -> str:
    """The country's name for a code we deliver to ("DE" -> "Germany"); an unknown code as it is."""
    return dict(Country.choices).get(code, code)


class Address(models.Model):
    """A delivery address saved by a customer; checkout copies it into the order (a snapshot)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addresses")
    full_name = models.CharField(max_length=150)
    line1 = models.CharField("address line 1", max_length=200)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2, choices=Country.choices)
    phone = models.CharField(max_length=30, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=Q(is_default=True), name="one_default_address_per_user"),
        ]
        verbose_name_plural = "addresses"

    def __str__(self) -> str:
        return f"{self.full_name}, {self.line1}, {self.postal_code} {self.city}, {self.country}"

    def as_lines(self) -> list[str]:
        lines = [self.full_name, self.line1, self.line2, f"{self.postal_code} {self.city}", self.get_country_display()]
        return [line for line in lines if line]
