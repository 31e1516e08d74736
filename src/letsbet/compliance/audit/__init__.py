"""Tamper-evident audit log: an append-only, hash-chained record of staff actions and
sensitive changes (see domain.py for the chain and its canonical serialisation)."""
