"""The accounts API: sign-up, tokens, password reset, the profile and saved addresses.

Thin doors: parse with an input serializer, call a service or a selector, render with an
output serializer. Errors take the platform's one shape (shop.api.errors).
"""

from __future__ import annotations

from django.contrib.auth import user_logged_in
from django.contrib.auth.tokens import default_token_generator
from django.utils.http import urlsafe_base64_decode
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import selectors, services
from accounts.api.serializers import (
    AddressInputSerializer,
    AddressOutputSerializer,
    EmailVerificationConfirmInputSerializer,
    EmailVerifiedOutputSerializer,
    PasswordInputSerializer,
    PasswordResetConfirmInputSerializer,
    PasswordResetInputSerializer,
    ProfileInputSerializer,
    RefreshTokenInputSerializer,
    SignUpInputSerializer,
    UserOutputSerializer,
)
from accounts.forms import QueuedPasswordResetForm, RevokingSetPasswordForm
from accounts.models import User
from shop.api.idempotency import idempotency_from_request
from shop.api.pagination import PageNumberWithSize
from shop.api.schema import IDEMPOTENCY_KEY_HEADER, error_response
from shop.api.throttling import AccountRateThrottle, AnonRateThrottle, ScopedRateThrottle

TokenPairSerializer = inline_serializer(
    "TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()}
)


def _tokens_for(user: User) -> dict:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class SignUpApi(APIView):
    """Create a customer account and sign it in (returns a token pair)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "signup"

    @extend_schema(
        request=SignUpInputSerializer,
        responses={
            201: inline_serializer("SignUpResult", {"user": UserOutputSerializer(), "tokens": TokenPairSerializer}),
            409: error_response("An account with this e-mail address already exists (code email_taken)."),
        },
    )
    def post(self, request: Request) -> Response:
        data = SignUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.register_user(**data.validated_data)
        user_logged_in.send(sender=User, request=request._request, user=user)
        return Response({"user": UserOutputSerializer(user).data, "tokens": _tokens_for(user)}, status=201)


class TokenObtainApi(TokenObtainPairView):
    """E-mail and password for an access and a refresh token. Send X-Guest-Token to carry a guest cart over."""

    throttle_classes = [AnonRateThrottle, ScopedRateThrottle, AccountRateThrottle]
    throttle_scope = "login"

    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_logged_in.send(sender=User, request=request._request, user=serializer.user)
        return Response(serializer.validated_data, status=200)


class TokenRefreshApi(TokenRefreshView):
    """A refresh token for a new access token and a new refresh token; the old one is blacklisted."""

    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "login"


class LogoutApi(APIView):
    """Blacklist the app's refresh token, so it can never be used again."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RefreshTokenInputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = RefreshTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            RefreshToken(data.validated_data["refresh"]).blacklist()
        except TokenError as exc:
            raise serializers.ValidationError({"refresh": [str(exc)]}) from exc
        return Response(status=204)


class PasswordResetApi(APIView):
    """E-mail a password reset link. Always 202, whether or not the address has an account."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "password_reset"

    @extend_schema(request=PasswordResetInputSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        data = PasswordResetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        form = QueuedPasswordResetForm(data=data.validated_data)
        if form.is_valid():
            form.save(request=request._request, use_https=request.is_secure())
        return Response(status=202)


class PasswordResetConfirmApi(APIView):
    """Set a new password with the uid and token from the reset e-mail's link."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "password_reset"

    @extend_schema(request=PasswordResetConfirmInputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_for_reset(data.validated_data["uid"], data.validated_data["token"])
        password = data.validated_data["new_password"]
        form = RevokingSetPasswordForm(user, {"new_password1": password, "new_password2": password})
        if not form.is_valid():
            raise serializers.ValidationError({"new_password": form.errors.get("new_password2", ["Not valid."])})
        form.save()
        return Response(status=204)


class EmailVerificationApi(APIView):
    """E-mail the signed-in customer a link that verifies their address (orders they placed as a
    guest with it then join the account). 202; the link's token is confirmed below."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "email_verification"

    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request) -> Response:
        services.request_email_verification(user=request.user)
        return Response(status=202)


class EmailVerificationConfirmApi(APIView):
    """Verify an address with the token of the e-mailed link (it works once). A used, expired or
    forged token is a 400 naming `token`."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        request=EmailVerificationConfirmInputSerializer,
        responses={200: EmailVerifiedOutputSerializer, 400: error_response("The link was used, expired or forged.")},
    )
    def post(self, request: Request) -> Response:
        data = EmailVerificationConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.verify_email(token=data.validated_data["token"])
        return Response(EmailVerifiedOutputSerializer(user).data)


def _user_for_reset(uid: str, token: str) -> User:
    try:
        user = User.objects.get(pk=int(urlsafe_base64_decode(uid).decode()), is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist) as exc:
        raise serializers.ValidationError({"uid": ["This reset link is not valid."]}) from exc
    if not default_token_generator.check_token(user, token):
        raise serializers.ValidationError({"token": ["This reset link has expired or was already used."]})
    return user


class MeApi(APIView):
    """The signed-in customer's profile. DELETE (with the password) anonymises the account."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(request=ProfileInputSerializer, responses=UserOutputSerializer)
    def patch(self, request: Request) -> Response:
        data = ProfileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.update_profile(user=request.user, full_name=data.validated_data["full_name"])
        return Response(UserOutputSerializer(user).data)

    @extend_schema(request=PasswordInputSerializer, responses={204: None})
    def delete(self, request: Request) -> Response:
        data = PasswordInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not request.user.check_password(data.validated_data["password"]):
            raise serializers.ValidationError({"password": ["That is not your password."]})
        services.delete_account(user=request.user)
        return Response(status=204)


class AddressListCreateApi(GenericAPIView):
    """The customer's saved addresses (default first); POST saves one (idempotent with a key)."""

    permission_classes = [IsAuthenticated]
    pagination_class = PageNumberWithSize
    serializer_class = AddressOutputSerializer

    @extend_schema(responses=AddressOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.list_addresses_for_user(user=request.user))
        return self.get_paginated_response(AddressOutputSerializer(page, many=True).data)

    @extend_schema(
        request=AddressInputSerializer,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: AddressOutputSerializer, 200: AddressOutputSerializer,
                   422: error_response("The Idempotency-Key was used with another body.")},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = AddressInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        make_default = data.validated_data.pop("is_default")
        outcome = services.add_address(
            user=request.user,
            data=services.AddressData(**data.validated_data),
            make_default=make_default,
            idempotency=idempotency_from_request(request),
        )
        return Response(AddressOutputSerializer(outcome.value).data, status=201 if outcome.created else 200)


class AddressDetailApi(APIView):
    """One of the customer's addresses: read, change (PATCH, partial), delete. Another's is a 404."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=AddressOutputSerializer)
    def get(self, request: Request, address_id: int) -> Response:
        return Response(
            AddressOutputSerializer(selectors.get_address_for_user(user=request.user, address_id=address_id)).data
        )

    @extend_schema(request=AddressInputSerializer(partial=True), responses=AddressOutputSerializer)
    def patch(self, request: Request, address_id: int) -> Response:
        address = selectors.get_address_for_user(user=request.user, address_id=address_id)
        data = AddressInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        make_default = changes.pop("is_default", False)
        current = services.AddressData.of(address).__dict__
        address = services.update_address(
            user=request.user,
            address_id=address.pk,
            data=services.AddressData(**{**current, **changes}),
            make_default=make_default,
        )
        return Response(AddressOutputSerializer(address).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, address_id: int) -> Response:
        services.delete_address(user=request.user, address_id=address_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
