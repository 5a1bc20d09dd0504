"""Signals the accounts app publishes for other apps."""

from django.dispatch import Signal

# Sent on commit after a customer signs in through any door (storefront log-in, sign-up, API
# token), with `user`, `guest_token` (the anonymous shopper's token, or None) and `request`. The cart
# merges the guest's cart into the account's cart when it receives it.
customer_signed_in = Signal()

# Sent on commit after a customer proved an e-mail address is theirs (they opened a signed link
# e-mailed to it), with `user`, `email` (the address verified) and `request` (or None). Orders
# attaches the orders placed as a guest with that address to the account when it receives it.
email_verified = Signal()
