"""Closing the loop: what was shown (impressions), what followed (attribution), online metrics, experiments."""
