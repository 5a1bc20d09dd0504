from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/signup", views.SignUpApi.as_view(), name="auth-signup"),
    path("auth/token", views.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/token/refresh", views.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout", views.LogoutApi.as_view(), name="auth-logout"),
    path("auth/password-reset", views.PasswordResetApi.as_view(), name="auth-password-reset"),
    path("auth/password-reset/confirm", views.PasswordResetConfirmApi.as_view(), name="auth-password-reset-confirm"),
    path("auth/verify-email", views.EmailVerificationApi.as_view(), name="auth-verify-email"),
    path("auth/verify-email/confirm", views.EmailVerificationConfirmApi.as_view(), name="auth-verify-email-confirm"),
    path("me", views.MeApi.as_view(), name="me"),
    path("addresses", views.AddressListCreateApi.as_view(), name="address-list"),
    path("addresses/<int:address_id>", views.AddressDetailApi.as_view(), name="address-detail"),
]
