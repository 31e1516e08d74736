"""Sports, competitions, events, markets, outcomes and the trading tools."""
