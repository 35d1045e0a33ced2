"""Logical dumps of the IdP database with their manifest (backup dump)."""
