"""Storefront forms of orders: the checkout steps, the "Place order" form, the guest look-up and a return.

Shape validation only (STYLE.md section 11): the address keeps the account form's fields and the
Address model's rules; orders.services.place_order checks everything again when the order is placed.
"""

from __future__ import annotations

from django import forms
from django.conf import settings

from accounts.forms import AddressForm
from accounts.models import Address
from accounts.services import AddressData
from orders import pricing
from orders.models import ReturnReason
from payments import methods as payment_methods
from shop.email_addresses import EmailAddressFormField

NEW_ADDRESS = "new"
ONE_TIME_KEY_FORMAT = r"^[A-Za-z0-9_-]{16,64}$"


class SavedAddressForm(forms.Form):
    """A signed-in customer's choice: one of their saved addresses, or a new one typed below."""

    address = forms.ChoiceField(widget=forms.RadioSelect, label="Deliver to")

    def __init__(self, *args, addresses: list[Address], **kwargs):
        super().__init__(*args, **kwargs)
        self.addresses = {str(address.pk): address for address in addresses}
        self.fields["address"].choices = [
            *((key, ", ".join(address.as_lines())) for key, address in self.addresses.items()),
            (NEW_ADDRESS, "A new address"),
        ]

    def chosen(self) -> Address | None:
        """The saved address picked (after is_valid()); None for a new one."""
        return self.addresses.get(self.cleaned_data["address"])


class CheckoutAddressForm(AddressForm):
    """A new delivery address: the account's address fields and rules; a customer may also save it."""

    save_address = forms.BooleanField(required=False, label="Save to my addresses")

    field_order = ["full_name", "line1", "line2", "city", "postal_code", "country", "phone", "save_address"]

    class Meta(AddressForm.Meta):
        pass

    def __init__(self, *args, signed_in: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not signed_in:  # a guest has no address book
            del self.fields["save_address"]
            del self.fields["make_default"]

    def address_data(self) -> AddressData:
        return AddressData(**{name: self.cleaned_data[name] for name in AddressForm.Meta.fields})


class GuestEmailForm(forms.Form):
    email = EmailAddressFormField(
        label="E-mail address",
        help_text="We send your order confirmation and a link to follow your order here.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class DeliveryForm(forms.Form):
    delivery_option = forms.ChoiceField(widget=forms.RadioSelect, label="Delivery")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["delivery_option"].choices = [
            (option.code, f"{option.label}: {option.price} {settings.SHOP_CURRENCY}")
            for option in pricing.delivery_options()
        ]


class PaymentForm(forms.Form):
    """The test gateway's cards as radio buttons; with Stripe, the pm_... id Stripe.js returned."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cards = payment_methods.test_cards()
        if cards:
            self.fields["payment_method"] = forms.ChoiceField(
                widget=forms.RadioSelect,
                label="Payment method",
                choices=[(card.token, card.label) for card in cards],
                initial=cards[0].token,  # preselected: the first card approves (the view's initial wins)
            )
        else:
            self.fields["payment_method"] = forms.CharField(
                max_length=100,
                label="Payment method",
                help_text="The PaymentMethod id (pm_...) that Stripe.js returned for your card.",
            )

    def clean_payment_method(self) -> str:
        try:
            return payment_methods.check_payment_method(self.cleaned_data["payment_method"].strip())
        except payment_methods.InvalidPaymentMethod as exc:
            raise forms.ValidationError(exc.message) from exc


class PlaceOrderForm(forms.Form):
    """The review page's hidden fields: its one-time token and the total the customer saw."""

    token = forms.RegexField(regex=ONE_TIME_KEY_FORMAT, widget=forms.HiddenInput)
    expected_total = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, widget=forms.HiddenInput)


class OrderLookupForm(forms.Form):
    number = forms.CharField(
        max_length=20,
        label="Order number",
        help_text="As in your confirmation e-mail, for example SO-AB2CD-EF3GH.",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    email = EmailAddressFormField(
        label="E-mail address",
        help_text="The address you gave when you ordered.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class ReturnRequestForm(forms.Form):
    """The order page's "Return items" form: a quantity per line that may be returned (0 to the
    units open to return), a reason and the customer's own words. services.request_return checks
    everything again under the order's lock."""

    reason = forms.ChoiceField(choices=[("", "Choose a reason"), *ReturnReason.choices], label="Why are you returning them?")
    comment = forms.CharField(
        required=False, max_length=1000, label="Anything we should know? (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip

    def __init__(self, *args, lines: list, open_units: dict[int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.returnable = []
        for line in lines:
            most = open_units.get(line.product_id, 0)
            if most < 1:
                continue
            name = f"quantity_{line.product_id}"
            self.fields[name] = forms.IntegerField(
                min_value=0, max_value=most, initial=0, required=False, label=f"{line.title} (up to {most})",
                widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "quantity-input"}),
            )  # fmt: skip
            self.returnable.append((line, self[name]))
        self.order_fields([*(f"quantity_{line.product_id}" for line, _ in self.returnable), "reason", "comment"])

    def units(self) -> dict[int, int]:
        return {line.product_id: self.cleaned_data.get(f"quantity_{line.product_id}") or 0 for line, _ in self.returnable}

    def clean(self):
        cleaned = super().clean()
        if self.returnable and not any(self.units().values()):
            raise forms.ValidationError("Choose how many of at least one item to return.")
        return cleaned
