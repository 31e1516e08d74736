"""Odds: pricing with margins, feeds, live odds fan-out."""
