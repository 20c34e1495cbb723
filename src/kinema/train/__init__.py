"""kinema.train."""
