"""Domain events: transactional outbox → relay → NATS JetStream → idempotent consumers."""
