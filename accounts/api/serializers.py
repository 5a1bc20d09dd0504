from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import Address, Country, User
from shop.email_addresses import EmailAddressSerializerField


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "date_joined"]
        read_only_fields = fields


class SignUpInputSerializer(serializers.Serializer):
    email = EmailAddressSerializerField()
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        candidate = User(email=attrs["email"], full_name=attrs.get("full_name", ""))
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class ProfileInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, allow_blank=True)


class PasswordInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RefreshTokenInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


class PasswordResetInputSerializer(serializers.Serializer):
    email = EmailAddressSerializerField()


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class AddressInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.ChoiceField(choices=Country.choices)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    is_default = serializers.BooleanField(required=False, default=False)


class AddressOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "full_name", "line1", "line2", "city", "postal_code", "country", "phone", "is_default"]
        read_only_fields = fields


class EmailVerificationConfirmInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)


class EmailVerifiedOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["email", "email_verified_at"]
        read_only_fields = fields
