"""Storefront pages of the accounts app. Views parse, call a service, and redirect after POST."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import selectors, services
from accounts.exceptions import AccountLimitReached, AddressNotFound, EmailAlreadyRegistered
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
