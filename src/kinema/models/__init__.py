"""kinema.models."""
