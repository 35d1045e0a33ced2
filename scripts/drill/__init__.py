"""Game-day drills: restore into an isolated target, verify the IdP, measure RTO and RPO."""
