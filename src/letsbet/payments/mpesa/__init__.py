"""Safaricom M-Pesa (Daraja): STK Push deposits, STK query, B2C withdrawals."""
