"""Small helpers shared by the accounts tests (not fixtures)."""

from django.contrib import auth


def logged_in_user_id(client) -> int | None:
    """The pk of the account the client's session is logged in as, or None when anonymous."""
    user = auth.get_user(client)
    return user.pk if user.is_authenticated else None


def address_form_data(**overrides) -> dict:
    """A valid POST body for the address form; override or drop (value None) single fields."""
    data = {
        "full_name": "Ada Lovelace",
        "line1": "221B Baker Street",
        "line2": "",
        "city": "London",
        "postal_code": "NW1 6XE",
        "country": "GB",
        "phone": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# A valid body for POST /api/v1/addresses.
API_ADDRESS = {
    "full_name": "Ada Lovelace",
    "line1": "221B Baker Street",
    "city": "London",
    "postal_code": "NW1 6XE",
    "country": "GB",
}
