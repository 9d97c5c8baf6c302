"""Data protection: envelope encryption of what we store that holds secrets or personal data."""
