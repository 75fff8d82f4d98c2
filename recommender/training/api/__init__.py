"""The training part of the public API: models, runs, versions, deployments."""
