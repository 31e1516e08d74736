"""Bet placement, bet math, settlement and cash-out."""
