from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts import services
from accounts.models import Address, User


class AddressInline(admin.TabularInline):
    model = Address
    extra = 0
    fields = ["full_name", "line1", "line2", "postal_code", "city", "country", "phone", "is_default"]


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["-date_joined"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined", "deleted_at"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["date_joined", "last_login", "deleted_at"]
    inlines = [AddressInline]
    actions = ["anonymise_accounts"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "deleted_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Orders refer to accounts; staff anonymise instead of deleting (the action below).
        return False

    @admin.action(description="Delete personal data (anonymise, keep order history)", permissions=["change"])
    def anonymise_accounts(self, request, queryset) -> None:
        count = 0
        for user in queryset:
            services.delete_account(user=user)
            count += 1
        self.message_user(request, f"{count} account(s) anonymised.", messages.SUCCESS)
