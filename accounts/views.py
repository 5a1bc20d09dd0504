"""Storefront pages of the accounts app. Views parse, call a service, and redirect after POST."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.exceptions import AccountLimitReached, AddressNotFound, EmailAlreadyRegistered, InvalidVerificationLink
from accounts.forms import AddressForm, DeleteAccountForm, SignUpForm


def _address_data(form: AddressForm) -> services.AddressData:
    fields = {name: form.cleaned_data[name] for name in AddressForm.Meta.fields}
    return services.AddressData(**fields)


@require_http_methods(["GET", "POST"])
def signup_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:account")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.register_user(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data["full_name"],
            )
        except EmailAlreadyRegistered as exc:
            form.add_error("email", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready.")
            return redirect("accounts:account")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def account_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/account.html",
        {"addresses": selectors.list_addresses_for_user(user=request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def address_create_view(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_address(
                user=request.user, data=_address_data(form), make_default=form.cleaned_data["make_default"]
            )
        except AccountLimitReached as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Address saved.")
        return redirect("accounts:account")
    return render(
        request, "accounts/address_form.html", {"form": form, "creating": True}, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def address_edit_view(request: HttpRequest, address_id: int) -> HttpResponse:
    try:
        address = selectors.get_address_for_user(user=request.user, address_id=address_id)
    except AddressNotFound as exc:
        raise Http404(exc.message) from exc
    form = AddressForm(request.POST or None, instance=address, initial={"make_default": address.is_default})
    if request.method == "POST" and form.is_valid():
        services.update_address(
            user=request.user,
            address_id=address.pk,
            data=_address_data(form),
            make_default=form.cleaned_data["make_default"],
        )
        messages.success(request, "Address updated.")
        return redirect("accounts:account")
    return render(
        request, "accounts/address_form.html", {"form": form, "address": address}, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def address_delete_view(request: HttpRequest, address_id: int) -> HttpResponse:
    """GET asks first, showing the address (as Django's delete does); POST deletes it."""
    try:
        if request.method == "GET":
            address = selectors.get_address_for_user(user=request.user, address_id=address_id)
            return render(request, "accounts/address_delete.html", {"address": address})
        services.delete_address(user=request.user, address_id=address_id)
    except AddressNotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, "Address deleted.")
    return redirect("accounts:account")


@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        services.delete_account(user=request.user)
        logout(request)
        messages.success(request, "Your account has been deleted. Your past orders are kept for our records.")
        return redirect("catalog:home")
    return render(request, "accounts/account_delete.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def verify_email_request_view(request: HttpRequest) -> HttpResponse:
    """E-mail the signed-in customer a new verification link (throttled in urls.py)."""
    services.request_email_verification(user=request.user)
    messages.success(request, f"We sent a link to {request.user.email}: open it to confirm the address.")
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return redirect(back if back and safe else "accounts:account")


@require_http_methods(["GET", "POST"])
def verify_email_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what the link confirms, with a button; the POST verifies (a mail scanner that
    prefetches the link uses nothing). A used, expired or forged link is a 400 page."""
    try:
        user = services.verify_email(token=token) if request.method == "POST" else services.check_verification_link(token=token)
    except InvalidVerificationLink as exc:
        return render(request, "accounts/verify_email.html", {"error": exc.message}, status=400)
    if request.method == "GET":
        return render(request, "accounts/verify_email.html", {"email": user.email})
    messages.success(
        request, f"Thank you: {user.email} is confirmed. Orders you placed as a guest with it are now in your account."
    )
    if request.user.is_authenticated and request.user.pk == user.pk:
        return redirect("orders:list")
    return redirect(f"{reverse('accounts:login')}?next={reverse('orders:list')}")
