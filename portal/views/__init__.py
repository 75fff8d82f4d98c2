"""Views of the recommender's portal pages, split by area."""
