"""Tax and GGR reports computed from the ledger's house accounts."""
