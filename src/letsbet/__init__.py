"""letsbet: betting platform for Kenya, Nigeria and Ghana."""
