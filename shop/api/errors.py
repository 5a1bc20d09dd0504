"""One error shape for every API response that is not a success (STYLE.md section 10):

    {"error": {"code": "invalid", "message": "...", "fields": {"email": ["reason", ...]}}}

`api_exception_handler` is DRF's EXCEPTION_HANDLER: it maps DRF's errors, the shop's domain
errors, Django's 404/403 and model validation errors. `json_error` builds the same body for
paths DRF never reaches (an unknown /api/ URL, a 500).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from shop.exceptions import DomainError

CODES = {
    exceptions.ValidationError: ("invalid", "Some fields are not valid."),
    exceptions.ParseError: ("malformed_request", "The request body could not be parsed."),
    exceptions.NotAuthenticated: ("not_authenticated", "Authentication is required."),
    exceptions.AuthenticationFailed: ("authentication_failed", "The credentials are not valid."),
    exceptions.PermissionDenied: ("permission_denied", "You may not do this."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This method is not allowed here."),
    exceptions.NotAcceptable: ("not_acceptable", "The requested response format is not available."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Send the body as application/json."),
    exceptions.Throttled: ("throttled", "Too many requests. Try again later."),
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def json_error(code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail as {"field": ["reason"], "lines.0.quantity": ["reason"]}."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            fields.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                if inner:
                    walk(f"{prefix}.{index}" if prefix else str(index), inner)
        else:
            fields.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return fields


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After, Allow
    if response is None:
        return None  # an unexpected error: let it reach the error reporter (a 500)
    fallback = (str(getattr(exc, "default_code", "error")), "Error.")  # PayloadTooLarge: payload_too_large
    code, message = next(((c, m) for kind, (c, m) in CODES.items() if isinstance(exc, kind)), fallback)
    fields: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
    elif isinstance(exc.detail, str) and exc.detail:
        message = str(exc.detail)
    response.data = error_body(code, message, fields)
    return response


def is_api_request(path: str) -> bool:
    return path.startswith("/api/")
