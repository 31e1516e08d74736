"""Payments: mobile-money deposits and withdrawals through M-Pesa (KE) and Flutterwave (NG, GH)."""
