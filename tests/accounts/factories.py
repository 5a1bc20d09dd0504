import factory
from django.contrib.auth import get_user_model

from accounts.models import Address
from accounts.services import AddressData

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.django.Password(DEFAULT_PASSWORD)

    class Params:
        staff = factory.Trait(is_staff=True)
        superuser = factory.Trait(is_staff=True, is_superuser=True)


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    user = factory.SubFactory(UserFactory)
    full_name = factory.Faker("name")
    line1 = factory.Faker("street_address")
    city = factory.Faker("city")
    postal_code = factory.Sequence(lambda n: f"{10000 + n}")
    country = "DE"


def address_data(**overrides) -> AddressData:
    """An `AddressData` for calling the address services directly."""
    fields = {"full_name": "Ada Lovelace", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10115"}
    return AddressData(**{**fields, "country": "DE", **overrides})
