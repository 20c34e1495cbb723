"""kinema.eval."""
