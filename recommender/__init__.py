"""Recommender: datasets, events, model configurations, training, versions, deployments and serving."""
