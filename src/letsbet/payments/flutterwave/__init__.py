"""Flutterwave v3: hosted payments (NG), Ghana mobile money charges, transfers, webhooks."""
