"""Storefront forms of the accounts app: shape validation only; services decide the rest."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.db import transaction

from accounts.models import Address, User
from accounts.services import revoke_refresh_tokens
from accounts.tasks import send_account_email_task
from shop.email_addresses import EmailAddressFormField, normalize_email
from shop.templating import render_text


class SignUpForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    email = EmailAddressFormField(label="E-mail address")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    username = EmailAddressFormField(label="E-mail address", widget=forms.EmailInput(attrs={"autofocus": True}))
    error_messages = {
        "invalid_login": "That e-mail address and password do not match an account. Check both and try again.",
        "inactive": "This account is closed.",
    }


# Autofill hints (HTML autocomplete tokens): browsers and password managers fill the address in.
ADDRESS_AUTOCOMPLETE = {
    "full_name": "name",
    "line1": "address-line1",
    "line2": "address-line2",
    "city": "address-level2",
    "postal_code": "postal-code",
    "country": "country",
    "phone": "tel",
}


class AddressForm(forms.ModelForm):
    make_default = forms.BooleanField(required=False, label="Use as my default delivery address")

    class Meta:
        model = Address
        fields = ["full_name", "line1", "line2", "city", "postal_code", "country", "phone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, token in ADDRESS_AUTOCOMPLETE.items():
            self.fields[name].widget.attrs["autocomplete"] = f"shipping {token}"
        self.fields["phone"].widget.input_type = "tel"


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        strip=False,
        help_text="Type your password to confirm.",
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the e-mail goes out on the `email` queue after commit.

    The shop's own templates are the defaults, so every door (storefront, API) sends the same
    e-mail with a link to the storefront's reset page.
    """

    subject_template_name = "accounts/email/password_reset_subject.txt"
    email_template_name = "accounts/email/password_reset.txt"
    email = EmailAddressFormField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    def get_users(self, email: str):
        # Exact match on the normal form: Django's iexact + casefold compare would also find a
        # look-alike account (U+017F LONG S + "am" for "sam") on PostgreSQL.
        return (user for user in User.objects.filter(email=normalize_email(email), is_active=True)
                if user.has_usable_password())  # fmt: skip

    def save(self, **kwargs) -> None:
        # Django's view passes its own (admin) template names; the shop's always win.
        kwargs.update(subject_template_name=self.subject_template_name, email_template_name=self.email_template_name)
        super().save(**kwargs)

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None
    ):
        subject = "".join(render_text(subject_template_name, context).splitlines())
        body = render_text(email_template_name, context)
        transaction.on_commit(lambda: send_account_email_task.delay(subject=subject, body=body, to_email=to_email))


class RevokingSetPasswordForm(SetPasswordForm):
    """Setting a new password (from a reset link) also signs every app out of the account."""

    def save(self, commit: bool = True):
        with transaction.atomic():  # the new password and the revocation stand or fall together
            user = super().save(commit=commit)
            if commit:
                revoke_refresh_tokens(user=user)
        return user
