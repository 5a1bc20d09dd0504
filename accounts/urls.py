from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views
from accounts.forms import EmailAuthenticationForm, QueuedPasswordResetForm, RevokingSetPasswordForm
from shop.api.throttling import throttle_post

app_name = "accounts"

urlpatterns = [
    path("signup/", throttle_post("signup")(views.signup_view), name="signup"),
    path(
        "login/",
        throttle_post("login", account_field="username")(
            auth_views.LoginView.as_view(
                template_name="accounts/login.html",
                authentication_form=EmailAuthenticationForm,
                redirect_authenticated_user=True,
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.account_view, name="account"),
    path("addresses/new/", views.address_create_view, name="address_create"),
    path("addresses/<int:address_id>/edit/", views.address_edit_view, name="address_edit"),
    path("addresses/<int:address_id>/delete/", views.address_delete_view, name="address_delete"),
    path("delete/", views.account_delete_view, name="delete"),
    path(
        "verify-email/",
        throttle_post("email_verification")(views.verify_email_request_view),
        name="verify_email_request",
    ),
    path("verify-email/<str:token>/", views.verify_email_view, name="verify_email"),
    path(
        "password-reset/",
        throttle_post("password_reset")(
            auth_views.PasswordResetView.as_view(
                template_name="accounts/password_reset_form.html",
                form_class=QueuedPasswordResetForm,
                success_url=reverse_lazy("accounts:password_reset_done"),
            )
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            form_class=RevokingSetPasswordForm,
            success_url=reverse_lazy("accounts:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
