"""Players and staff: registration, login, tokens, roles."""
