"""The crash game: provably fair chain, rounds with one leader per game, bets via the ledger."""
