"""Signals the accounts app publishes for other apps."""

from django.dispatch import Signal

# Sent on commit after a customer signs in through any door (storefront log-in, sign-up, API
# token), with `user` and `guest_token` (the anonymous shopper's token, or None). The cart
# merges the guest's cart into the account's cart when it receives it.
customer_signed_in = Signal()
