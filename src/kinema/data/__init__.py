"""kinema.data."""
