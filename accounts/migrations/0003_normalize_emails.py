"""Put every stored e-mail address in the normal form of shop.email_addresses (issue 20, item 10).

The rule is the one sign-up and log-in apply (imported, so both always agree; the migration is a
one-off conversion). An address whose normal form already belongs to another (older) account is
left as it was and reported: that account can no longer log in by its look-alike address, and
staff decide what to do with it.
"""

from django.db import migrations

from shop.email_addresses import normalize_email


def normalize_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for user in User.objects.order_by("pk").only("pk", "email").iterator():
        normal = normalize_email(user.email)
        if normal == user.email:
            continue
        if User.objects.filter(email=normal).exists():
            print(f"\n  accounts: user {user.pk} keeps its address: its normal form belongs to another account")
            continue
        User.objects.filter(pk=user.pk).update(email=normal)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_user_email_verified_at")]

    operations = [migrations.RunPython(normalize_emails, migrations.RunPython.noop, elidable=True)]
