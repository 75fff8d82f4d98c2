"""The recommend-scope API: recommendations, similar items, rank, predict, batch jobs."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from recommender.training.models import ModelConfig
from tenants.audit import Actor
from tenants.scoping import TenantAPIView, TenantScopedViewSet, get_tenant_object_or_404

from .. import services
from ..batch import request_batch
from ..models import BatchJob
from .serializers import (
    BatchJobSerializer,
    BatchRequestSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    RankRequestSerializer,
    RecommendationQuerySerializer,
    RecommendationResponseSerializer,
    SessionRecommendationRequestSerializer,
    SimilarItemsQuerySerializer,
)

# One instance of each query serializer validates every request: building a serializer's fields cost several
# times more than validating with them (docs/benchmarks.md, "Serving"). run_validation keeps no state on it.
_RECOMMENDATION_QUERY = RecommendationQuerySerializer()
_SIMILAR_ITEMS_QUERY = SimilarItemsQuerySerializer()


class ServingView(TenantAPIView):
    """Base for serving endpoints: recommend scope, model looked up by slug within the tenant."""

    required_scope = "recommend"

    def serve(self, function, *args, **kwargs):
        try:
            answer = function(self.tenant, *args, **kwargs)
        except services.ModelNotFound:
            raise Http404(f"No model '{args[0]}'.") from None
        return Response(answer, headers={"X-Request-ID": answer["request_id"]})


class RecommendationsView(ServingView):
    metering_name = "recommendations"

    @extend_schema(
        parameters=[RecommendationQuerySerializer],
        responses={200: RecommendationResponseSerializer},
        summary="Top-k recommendations for a user",
        examples=[
            OpenApiExample(
                "Recommendations",
                response_only=True,
                value={
                    "model": "shop-recs",
                    "version": 3,
                    "user_id": "u42",
                    "items": [{"item_id": "sku-1", "score": 0.91}, {"item_id": "sku-7", "score": 0.84}],
                    "fallback": None,
                    "request_id": "5f0c6b0e9a8c4a5e8d2e0b7f1c3a9d21",
                    "recommendation_id": "rec_3f9c2a7d5e1b4c8a9f0e6d2b7a1c5e83",
                },
            )
        ],
    )
    def get(self, request, slug):
        q = _RECOMMENDATION_QUERY.run_validation(request.query_params)
        return self.serve(
            services.recommend,
            slug,
            q["user_id"],
            k=q["k"],
            exclude_seen=q["exclude_seen"],
            exclude=q["exclude"],
            categories=q["category"],
            explain=q["explain"],
        )


class SessionRecommendationsView(ServingView):
    metering_name = "session-recommendations"

    @extend_schema(
        request=SessionRecommendationRequestSerializer,
        responses={200: RecommendationResponseSerializer},
        summary="Top-k recommendations for an anonymous session (recent item ids, no user id)",
        examples=[
            OpenApiExample("Session", request_only=True, value={"item_ids": ["sku-3", "sku-9"], "k": 5}),
            OpenApiExample(
                "Session recommendations",
                response_only=True,
                value={
                    "model": "shop-recs",
                    "version": 3,
                    "user_id": None,
                    "items": [{"item_id": "sku-4", "score": 0.72}],
                    "fallback": None,
                    "request_id": "9a0c6b0e9a8c4a5e8d2e0b7f1c3a9d21",
                    "session": {"events": 3, "events_used": 2, "unknown_items": 1, "left_out": 0, "max_history": 50},
                },
            ),
        ],
    )
    def post(self, request, slug):
        body = SessionRecommendationRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return self.serve(
            services.recommend_session,
            slug,
            data["item_ids"],
            timestamps=data.get("timestamps"),
            event_types=data.get("event_types"),
            k=data["k"],
            exclude_seen=data["exclude_seen"],
            exclude=data["exclude"],
            categories=data["category"],
        )


class SimilarItemsView(ServingView):
    metering_name = "similar-items"

    @extend_schema(
        parameters=[SimilarItemsQuerySerializer],
        responses={200: RecommendationResponseSerializer},
        summary="Top-k items like an item",
    )
    def get(self, request, slug):
        q = _SIMILAR_ITEMS_QUERY.run_validation(request.query_params)
        return self.serve(
            services.similar_items, slug, q["item_id"], k=q["k"], exclude=q["exclude"], categories=q["category"]
        )


class RankView(ServingView):
    metering_name = "rank"

    @extend_schema(
        request=RankRequestSerializer,
        responses={200: RecommendationResponseSerializer},
        summary="Order a list of items for a user",
    )
    def post(self, request, slug):
        body = RankRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.serve(services.rank, slug, body.validated_data["user_id"], body.validated_data["item_ids"])


class PredictView(ServingView):
    metering_name = "predict"

    @extend_schema(
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer},
        summary="Predictions of a tabular model",
        examples=[
            OpenApiExample(
                "Churn rows", request_only=True, value={"rows": [{"tenure": 3, "plan": "basic", "monthly_spend": 20.5}]}
            )
        ],
    )
    def post(self, request, slug):
        body = PredictRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.serve(services.predict, slug, body.validated_data["rows"])


class BatchRecommendationsView(TenantAPIView):
    """Start a batch of recommendations for all users (or a list) on a worker."""

    required_scope = "recommend"
    metering_name = "batch-recommendations"

    @extend_schema(request=BatchRequestSerializer, responses={202: BatchJobSerializer}, summary="Batch job")
    def post(self, request, slug):
        config = get_tenant_object_or_404(ModelConfig.objects, self.tenant, slug=slug)
        body = BatchRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.require_operation(config.slug, config.recipe, "recommend")
        job = request_batch(
            actor=Actor.from_request(request),
            config=config,
            user_ids=body.validated_data.get("user_ids"),
            sessions=[dict(session) for session in body.validated_data.get("sessions") or []] or None,
            k=body.validated_data["k"],
            file_format=body.validated_data["format"],
        )
        return Response(BatchJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class BatchJobViewSet(mixins.RetrieveModelMixin, TenantScopedViewSet):
    """A batch job's progress, and its file once it succeeded."""

    model = BatchJob
    serializer_class = BatchJobSerializer
    required_scope = "recommend"

    def scoped_queryset(self):
        return BatchJob.objects.select_related("config")

    @extend_schema(
        responses={(200, "text/csv"): bytes, (200, "application/x-ndjson"): bytes},
        summary="Download a batch file",
        description="CSV or JSON Lines, as the job's `format` asked. 404 until the job has succeeded.",
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        job = self.get_object()
        if job.status != BatchJob.Status.SUCCEEDED:
            raise Http404("This batch has no file yet.")
        if not job.file_path:
            raise Http404(job.error or "This batch's file is gone.")
        content_type = "text/csv" if job.file_format == BatchJob.Format.CSV else "application/x-ndjson"
        return FileResponse(
            default_storage.open(job.file_path, "rb"),
            as_attachment=True,
            filename=f"{job.config.slug}-batch-{job.pk}.{job.file_format}",
            content_type=content_type,
        )
