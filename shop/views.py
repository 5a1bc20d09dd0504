from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import bad_request as django_bad_request

from shop.api.errors import is_api_request, json_error
from shop.api.request_limits import payload_too_large_response
from shop.failover import current_database_error, database_unavailable_response


@csrf_exempt  # answers 404 to every method; nothing to protect, and a CSRF page is no JSON
def api_not_found(request: HttpRequest) -> HttpResponse:
    return json_error("not_found", "There is no API endpoint at this address.", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_request(request.path):
        return json_error("csrf_failed", "CSRF check failed: send the X-CSRFToken header with the session.", 403)
    return django_csrf_failure(request, reason=reason)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request.path):
        if isinstance(exception, RequestDataTooBig):  # a body without Content-Length, read past Django's limit
            return payload_too_large_response()
        return json_error("bad_request", "The request could not be understood.", 400)
    return django_bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request.path):
        return json_error("not_found", "Not found.", 404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if current_database_error() is not None:  # the database vanished under a middleware: 503, not 500
        return database_unavailable_response(request)
    if is_api_request(request.path):
        return json_error("server_error", "Something went wrong on our side. Please try again.", 500)
    # No context processors: whatever broke (the database, a template tag) must not break this page.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
