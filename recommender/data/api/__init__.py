"""The data layer's public API: datasets, imports, events, the catalogue, erasure and privacy settings."""
