"""The sportsbook: catalogue, odds, bets, settlement, cash-out."""
