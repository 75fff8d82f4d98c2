"""Serving: recommendations, similar items, ranking, predictions and batch jobs over deployed versions.

Web processes serve with numpy scorers only; nothing here imports TensorFlow.
"""
