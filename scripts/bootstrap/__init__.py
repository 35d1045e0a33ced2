"""First-day steps of a new stack: the IdP's database role (db)."""
