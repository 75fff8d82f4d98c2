"""API views for model configurations, training runs, versions and deployments (manage scope)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from recommender import ml
from tenants.audit import Actor
from tenants.scoping import TenantAPIView, TenantScopedViewSet

from .. import selectors
from ..models import ModelConfig, TrainingRun
from ..services import configs, deployments, runs
from .serializers import (
    DeployResponseSerializer,
    ModelConfigSerializer,
    ModelVersionSerializer,
    RecipeSerializer,
    TrainingRunSerializer,
    TrainRequestSerializer,
)


class ModelConfigViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantScopedViewSet
):
    """The tenant's model configurations, addressed by slug."""

    model = ModelConfig
    serializer_class = ModelConfigSerializer
    lookup_field = "slug"

    def scoped_queryset(self):
        return selectors.configs_with_deployment()

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = configs.create_config(actor=Actor.from_request(request), **serializer.validated_data)
        return Response(self.get_serializer(config).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, slug=None):
        config = self.get_object()
        serializer = self.get_serializer(config, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in serializer.validated_data.items() if key != "slug"}
        config = configs.update_config(actor=Actor.from_request(request), config=config, **changes)
        return Response(self.get_serializer(config).data)

    def perform_destroy(self, config):
        configs.delete_config(actor=Actor.from_request(self.request), config=config)

    @extend_schema(request=TrainRequestSerializer, responses={202: TrainingRunSerializer}, summary="Train a model")
    @action(detail=True, methods=["post"])
    def train(self, request, slug=None):
        config = self.get_object()
        serializer = TrainRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = runs.request_training(actor=Actor.from_request(request), config=config, **serializer.validated_data)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=TrainingRunSerializer(many=True), summary="A model's training runs")
    @action(detail=True, methods=["get"])
    def runs(self, request, slug=None):
        page = self.paginate_queryset(selectors.runs_of(self.get_object()))
        return self.get_paginated_response(TrainingRunSerializer(page, many=True).data)

    @extend_schema(responses=ModelVersionSerializer(many=True), summary="A model's versions, newest first")
    @action(detail=True, methods=["get"])
    def versions(self, request, slug=None):
        page = self.paginate_queryset(selectors.versions_of(self.get_object()))
        return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses=DeployResponseSerializer,
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
        summary="Deploy a version (an older one rolls back)",
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>\d+)/deploy")
    def deploy(self, request, slug=None, number=None):
        version = selectors.versions_of(self.get_object()).filter(number=number).first()
        if version is None:
            raise Http404(f"This model has no version {number}.")
        deployed = deployments.deploy_version(
            actor=Actor.from_request(request), version=version, reason="deployed by request"
        )
        version = selectors.versions_of(version.config).get(pk=version.pk)
        return Response({**ModelVersionSerializer(version).data, "warning": deployed.warning})


class TrainingRunViewSet(mixins.RetrieveModelMixin, TenantScopedViewSet):
    """One training run: progress, per-epoch history, metrics beside the baseline, errors."""

    model = TrainingRun
    serializer_class = TrainingRunSerializer

    def scoped_queryset(self):
        return TrainingRun.objects.select_related("config", "version")

    @extend_schema(
        request=None,
        responses={200: TrainingRunSerializer, 409: OpenApiResponse(description="The run already finished.")},
        summary="Cancel a run",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = runs.cancel_run(actor=Actor.from_request(request), run=self.get_object())
        return Response(TrainingRunSerializer(self.get_queryset().get(pk=run.pk)).data)


class RecipeListView(TenantAPIView):
    """The recipes a model can use, with their declared hyperparameters (type, range, default, help)."""

    required_scope = None

    @extend_schema(responses=RecipeSerializer(many=True), summary="Available recipes")
    def get(self, request):
        return Response(
            [
                {
                    "name": recipe.name,
                    "task": recipe.task,
                    "description": recipe.description,
                    "supports": sorted(recipe.supports),
                    "params": [param.to_dict() for param in recipe.params],
                    "is_default": recipe.name == ml.DEFAULT_RECOMMENDATION_RECIPE,
                }
                for recipe in ml.list_recipes()
            ]
        )
