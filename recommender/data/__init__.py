"""Data layer: datasets, imports, events, the item catalogue, end-user features and privacy."""
