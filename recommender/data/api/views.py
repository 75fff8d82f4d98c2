"""Views of the data API: thin wrappers that check shapes, call a service or selector, and answer."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from core.errors import PayloadTooLarge
from tenants.audit import Actor
from tenants.scoping import TenantAPIView, TenantScopedAPIView, TenantScopedViewSet

from .. import selectors, services
from ..importing.problems import UNSTORABLE, UNSTORABLE_REASON
from ..models import Dataset, ImportJob, Item
from ..privacy import data_settings
from .serializers import (
    DatasetCreateSerializer,
    DatasetDetailSerializer,
    DatasetSerializer,
    DataSettingsSerializer,
    ErasureResultSerializer,
    EventsRequestSerializer,
    EventsResponseSerializer,
    ImportCreateSerializer,
    ImportJobSerializer,
    ItemSerializer,
    ItemsUpsertSerializer,
    UpsertResultSerializer,
)

# Room for the multipart envelope and the other form fields around the file itself.
MULTIPART_ALLOWANCE = 64 * 1024


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's datasets; each holds interactions, catalogue items, user features or tabular rows."""

    model = Dataset
    serializer_class = DatasetSerializer

    def get_serializer_class(self):
        return DatasetDetailSerializer if self.action == "retrieve" else DatasetSerializer

    @extend_schema(
        request=DatasetCreateSerializer, responses={201: DatasetDetailSerializer}, summary="Create a dataset"
    )
    def create(self, request):
        serializer = DatasetCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset = services.create_dataset(actor=Actor.from_request(request), **serializer.validated_data)
        return Response(DatasetDetailSerializer(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("refresh", bool, description="Recompute now instead of the stored statistics.")],
        responses=inline_serializer(
            "DatasetStats",
            {
                "dataset": serializers.IntegerField(),
                "updated_at": serializers.DateTimeField(allow_null=True),
                "stats": serializers.DictField(),
            },
        ),
        summary="Dataset statistics",
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        dataset = self.get_object()
        refresh = request.query_params.get("refresh", "false")
        if refresh not in ("true", "false"):
            raise ValidationError({"refresh": ["Send true or false."]})
        if refresh == "true" or not dataset.stats_updated_at:
            services.refresh_dataset_stats(dataset)
        return Response({"dataset": dataset.pk, "updated_at": dataset.stats_updated_at, "stats": dataset.stats})

    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": ImportCreateSerializer},
        responses={202: ImportJobSerializer, 413: OpenApiResponse(description="The file is over the plan's limit.")},
        summary="Upload a file to import",
    )
    @extend_schema(methods=["GET"], responses=ImportJobSerializer(many=True), summary="The dataset's imports")
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser])
    def imports(self, request, pk=None):
        dataset = self.get_object()
        if request.method == "GET":
            jobs = selectors.import_jobs_of(self.tenant).filter(dataset=dataset)
            page = self.paginate_queryset(jobs)
            return self.get_paginated_response(ImportJobSerializer(page, many=True).data)
        self._refuse_oversized_body()
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.start_import(
            actor=Actor.from_request(request),
            dataset=dataset,
            upload=serializer.validated_data["file"],
            options=serializer.options(),
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    def _refuse_oversized_body(self):
        """Answer 413 from the declared length, before the body is read (the service checks the file too)."""
        plan = self.tenant.plan
        declared = int(self.request.META.get("CONTENT_LENGTH") or 0)
        if declared > plan.max_upload_bytes + MULTIPART_ALLOWANCE:
            raise PayloadTooLarge(
                f"The upload is {declared} bytes; the {plan.name} plan accepts files of up to "
                f"{plan.max_upload_bytes} bytes."
            )


class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Import jobs: status, progress (rows read of the total) and the first bad rows."""

    model = ImportJob
    serializer_class = ImportJobSerializer

    def scoped_queryset(self):
        return ImportJob.objects.select_related("dataset")


class EventsView(TenantAPIView):
    """Send a batch of interaction events; each is validated on its own."""

    required_scope = "ingest"

    @extend_schema(request=EventsRequestSerializer, responses=EventsResponseSerializer, summary="Send events")
    def post(self, request):
        serializer = EventsRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset_id = serializer.validated_data.get("dataset")
        dataset = selectors.get_dataset_or_404(self.tenant, dataset_id) if dataset_id is not None else None
        outcome = services.record_events(
            actor=Actor.from_request(request), events=serializer.validated_data["events"], dataset=dataset
        )
        return Response({"accepted": outcome.accepted, "duplicates": outcome.duplicates, "rejected": outcome.rejected})


class ItemCollectionView(TenantScopedAPIView):
    """The catalogue: list it, or create and update items in bulk."""

    model = Item
    required_scope = "ingest"
    read_scopes = ("recommend", "ingest")
    serializer_class = ItemSerializer

    @extend_schema(responses=ItemSerializer(many=True), summary="List catalogue items")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ItemSerializer(page, many=True).data)

    @extend_schema(request=ItemsUpsertSerializer, responses=UpsertResultSerializer, summary="Upsert catalogue items")
    def put(self, request):
        body = request.data if isinstance(request.data, dict) else {"items": request.data}
        serializer = ItemsUpsertSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        counts = services.upsert_catalogue_items(
            actor=Actor.from_request(request), items=serializer.validated_data["items"]
        )
        return Response(counts)


class ItemDetailView(TenantScopedAPIView):
    """One catalogue item; deleting deactivates it (it is never recommended again)."""

    model = Item
    required_scope = "ingest"
    read_scopes = ("recommend", "ingest")
    serializer_class = ItemSerializer

    @extend_schema(summary="A catalogue item")
    def get(self, request, item_id):
        return Response(ItemSerializer(selectors.get_item_or_404(self.tenant, item_id)).data)

    @extend_schema(responses={200: ItemSerializer}, summary="Deactivate a catalogue item")
    def delete(self, request, item_id):
        item = services.deactivate_item(
            actor=Actor.from_request(request), item=selectors.get_item_or_404(self.tenant, item_id)
        )
        return Response(ItemSerializer(item).data)


class EndUserErasureView(TenantAPIView):
    """Erase an end user: their interactions and features go, and personalisation for them stops."""

    required_scope = "ingest"

    @extend_schema(responses={200: ErasureResultSerializer}, summary="Erase an end user")
    def delete(self, request, user_id):
        if UNSTORABLE.search(user_id):  # no stored id holds one, and the database refuses to even compare it
            raise ValidationError({"user_id": [f"The id {UNSTORABLE_REASON}."]})
        return Response(services.erase_end_user(actor=Actor.from_request(request), raw_user_id=user_id))


class DataSettingsView(TenantAPIView):
    """The tenant's privacy settings for its data."""

    @extend_schema(responses=DataSettingsSerializer, summary="Data privacy settings")
    def get(self, request):
        return Response(DataSettingsSerializer(data_settings(self.tenant)).data)

    @extend_schema(
        request=DataSettingsSerializer,
        responses={
            200: DataSettingsSerializer,
            409: OpenApiResponse(description="The tenant already stores user data; erase it first."),
        },
        summary="Change privacy settings",
    )
    def patch(self, request):
        # A PATCH changes only the fields it names; one naming none changes nothing and answers the settings.
        serializer = DataSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "pseudonymize_user_ids" not in serializer.validated_data:
            return Response(DataSettingsSerializer(data_settings(self.tenant)).data)
        updated = services.update_data_settings(
            actor=Actor.from_request(request),
            pseudonymize_user_ids=serializer.validated_data["pseudonymize_user_ids"],
        )
        return Response(DataSettingsSerializer(updated).data)
