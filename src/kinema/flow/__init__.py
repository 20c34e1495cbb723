"""kinema.flow."""
