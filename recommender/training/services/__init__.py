"""Writes of the training app, split by what they change."""
