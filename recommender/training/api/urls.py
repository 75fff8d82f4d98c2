"""URLs of the training API, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import ModelConfigViewSet, RecipeListView, TrainingRunViewSet

router = SimpleRouter(trailing_slash=False)
router.register("models", ModelConfigViewSet, basename="model")
router.register("runs", TrainingRunViewSet, basename="run")

urlpatterns = [path("recipes", RecipeListView.as_view(), name="recipes"), *router.urls]
