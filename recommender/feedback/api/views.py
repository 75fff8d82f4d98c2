"""Views of the feedback API: thin wrappers that check shapes, call a service or selector, and answer."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from recommender.training.models import ModelConfig
from tenants.audit import Actor
from tenants.scoping import TenantAPIView, TenantScopedViewSet, get_tenant_object_or_404

from .. import selectors, services
from ..models import Experiment
from .serializers import (
    ExperimentCreateSerializer,
    ExperimentResultsSerializer,
    ExperimentSerializer,
    ExperimentUpdateSerializer,
    ExplorationSerializer,
    FeedbackSettingsSerializer,
    MetricsQuerySerializer,
    MetricsResponseSerializer,
)


class FeedbackSettingsView(TenantAPIView):
    """Which event types count as clicks, conversions and revenue; the estimated window; metric retention."""

    @extend_schema(responses=FeedbackSettingsSerializer, summary="Feedback settings")
    def get(self, request):
        return Response(FeedbackSettingsSerializer(services.feedback_settings(self.tenant)).data)

    @extend_schema(request=FeedbackSettingsSerializer, responses=FeedbackSettingsSerializer, summary="Change them")
    def patch(self, request):
        serializer = FeedbackSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        found = services.update_feedback_settings(actor=Actor.from_request(request), **serializer.validated_data)
        return Response(FeedbackSettingsSerializer(found).data)


class ExplorationView(TenantAPIView):
    """A model's exploration: the share of slots for new catalogue items (Thompson sampling), and their age."""

    @extend_schema(responses=ExplorationSerializer, summary="Exploration of a model")
    def get(self, request, slug):
        config = get_tenant_object_or_404(ModelConfig.objects, self.tenant, slug=slug)
        policy = selectors.exploration_of(tenant=self.tenant, config=config)
        return Response(ExplorationSerializer(policy).data)

    @extend_schema(request=ExplorationSerializer, responses=ExplorationSerializer, summary="Set it (weight 0: off)")
    def put(self, request, slug):
        config = get_tenant_object_or_404(ModelConfig.objects, self.tenant, slug=slug)
        body = ExplorationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = services.set_exploration(actor=Actor.from_request(request), config=config, **body.validated_data)
        return Response(ExplorationSerializer(policy).data)


class MetricsView(TenantAPIView):
    """Online metrics per model, version and experiment arm over a time range."""

    @extend_schema(parameters=[MetricsQuerySerializer], responses=MetricsResponseSerializer, summary="Online metrics")
    def get(self, request):
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        model = get_tenant_object_or_404(ModelConfig.objects, self.tenant, slug=q["model"]) if "model" in q else None
        experiment = (
            get_tenant_object_or_404(Experiment.objects, self.tenant, pk=q["experiment"]) if "experiment" in q else None
        )
        return Response(
            selectors.metric_series(
                tenant=self.tenant,
                start=q["start"],
                end=q["end"],
                bucket=q["bucket"],
                model=model,
                experiment=experiment,
            )  # fmt: skip
        )


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """A/B/n experiments between versions of a model (or between models)."""

    model = Experiment
    serializer_class = ExperimentSerializer

    def scoped_queryset(self):
        return Experiment.objects.select_related("config", "promoted_arm").prefetch_related(
            "arms__config", "arms__version"
        )

    @extend_schema(request=ExperimentCreateSerializer, responses={201: ExperimentSerializer}, summary="Start one")
    def create(self, request):
        body = ExperimentCreateSerializer(data=request.data, context={"tenant": self.tenant})
        body.is_valid(raise_exception=True)
        q = body.validated_data
        experiment = services.start_experiment(
            actor=Actor.from_request(request), name=q["name"], config=q["config"], metric=q["metric"],
            arms=q["arms"], alpha=q["alpha"], guardrails=q.get("guardrails"),
        )  # fmt: skip
        return Response(ExperimentSerializer(self.get_queryset().get(pk=experiment.pk)).data, status=201)

    @extend_schema(request=ExperimentUpdateSerializer, responses=ExperimentSerializer, summary="Rename one")
    def partial_update(self, request, pk=None):
        experiment = self.get_object()
        body = ExperimentUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "name" in body.validated_data:
            experiment.name = body.validated_data["name"]
            experiment.save(update_fields=["name"])
        return Response(ExperimentSerializer(experiment).data)

    @extend_schema(request=None, responses=ExperimentSerializer, summary="Stop one")
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        experiment = services.stop_experiment(actor=Actor.from_request(request), experiment=self.get_object())
        return Response(ExperimentSerializer(experiment).data)

    @extend_schema(responses=ExperimentResultsSerializer, summary="Results: each arm against the control, the decision")
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        return Response(selectors.experiment_results(experiment=self.get_object()))

    @extend_schema(request=None, responses=ExperimentSerializer, summary="Deploy the winner")
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        experiment = services.promote_winner(actor=Actor.from_request(request), experiment=self.get_object())
        return Response(ExperimentSerializer(self.get_queryset().get(pk=experiment.pk)).data, status=status.HTTP_200_OK)
