"""Request and response shapes of the serving API."""

from rest_framework import serializers

from ..models import BatchJob
from ..services import MAX_RANK_ITEMS, MAX_SESSION_ITEMS

MAX_K = 500


def _id_list(value):
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


class QueryListField(serializers.CharField):
    """A comma-separated query parameter that, when sent, may not be empty (as the schema says).

    DRF reads ``?category=`` from a query string as if the parameter were left out; a caller who sends it
    empty most likely built the URL wrongly, so it gets a 400 naming the parameter instead.
    """

    def get_value(self, dictionary):
        return dictionary.get(self.field_name, serializers.empty)


class RecommendationQuerySerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=256)
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    exclude_seen = serializers.BooleanField(default=True, help_text="Leave out items the user already has.")
    exclude = QueryListField(required=False, default="", help_text="Comma-separated item ids to leave out.")
    category = QueryListField(
        required=False, default="", help_text="Comma-separated categories: only items in any of them."
    )
    explain = serializers.BooleanField(default=False, help_text="For each item, the user's items that support it.")

    def validate(self, attrs):
        return {**attrs, "exclude": _id_list(attrs["exclude"]), "category": _id_list(attrs["category"])}


class SimilarItemsQuerySerializer(serializers.Serializer):
    item_id = serializers.CharField(max_length=256)
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    exclude = QueryListField(required=False, default="")
    category = QueryListField(required=False, default="")

    def validate(self, attrs):
        return {**attrs, "exclude": _id_list(attrs["exclude"]), "category": _id_list(attrs["category"])}


class SessionRecommendationRequestSerializer(serializers.Serializer):
    item_ids = serializers.ListField(
        child=serializers.CharField(max_length=256),
        allow_empty=True,
        max_length=MAX_SESSION_ITEMS,
        help_text="The session's items, oldest first (or in any order with timestamps). Unknown ids are ignored "
        "and counted; an empty list gets the popularity fallback.",
    )
    timestamps = serializers.ListField(
        child=serializers.DateTimeField(),
        required=False,
        max_length=MAX_SESSION_ITEMS,
        help_text="Optional, one per item: the events are put in time order first; models trained with "
        "time_gaps read the time between them.",
    )
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=MAX_SESSION_ITEMS,
        help_text="Optional, one per item (view, purchase...): models trained with event_types read them "
        "(a type they never saw counts as unknown); other models ignore them.",
    )
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    exclude_seen = serializers.BooleanField(default=True, help_text="Leave out the session's own items.")
    exclude = serializers.ListField(
        child=serializers.CharField(max_length=256),
        required=False,
        default=list,
        max_length=MAX_RANK_ITEMS,
        help_text="Item ids to leave out.",
    )
    category = serializers.ListField(
        child=serializers.CharField(max_length=256),
        required=False,
        default=list,
        max_length=100,
        help_text="Only items in any of these categories.",
    )

    def validate(self, attrs):
        n_items = len(attrs["item_ids"])
        errors = {
            name: f"Give one value per item: {len(attrs[name])} for {n_items} item ids."
            for name in ("timestamps", "event_types")
            if name in attrs and len(attrs[name]) != n_items
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RankRequestSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=256)
    item_ids = serializers.ListField(
        child=serializers.CharField(max_length=256), min_length=1, max_length=MAX_RANK_ITEMS
    )


class PredictRequestSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=1000, help_text="Up to 1,000 rows: column → value."
    )


class ScoredItemSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    because = serializers.ListField(child=serializers.DictField(), required=False)
    explored = serializers.BooleanField(required=False, help_text="A new item shown by the model's exploration.")


class FallbackSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="What served instead: 'popularity'.")
    reason = serializers.ChoiceField(
        choices=["unknown_user", "erased_user", "no_deployment", "unknown_item", "empty_session"],
        help_text="Why it served.",
    )


class RecommendationResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    item_id = serializers.CharField(required=False)
    items = ScoredItemSerializer(many=True)
    fallback = FallbackSerializer(allow_null=True)
    request_id = serializers.CharField()
    history = serializers.DictField(
        required=False,
        help_text="What of the user's history the model read, events sent after training included. Sequence-aware "
        "models: how many of the user's latest events were read (events_used), how many were on items the model "
        "does not know (unknown_items), older ones not read (left_out), max_history. Other personalised models: "
        "the distinct items read (events_used), of those the ones sent since training and folded in "
        "(since_training), unknown_items; left_out 0 and max_history null.",
    )
    session = serializers.DictField(
        required=False,
        help_text="Session recommendations: events received, events_used, unknown_items, left_out, max_history.",
    )
    recommendation_id = serializers.CharField(help_text="Send it back on the events that follow (attribution).")


class PredictResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.DictField())
    request_id = serializers.CharField()


class BatchSessionSerializer(serializers.Serializer):
    session_id = serializers.CharField(max_length=256)
    item_ids = serializers.ListField(
        child=serializers.CharField(max_length=256),
        allow_empty=True,
        max_length=MAX_SESSION_ITEMS,
        help_text="The session's items, oldest first.",
    )


# Sessions one batch may carry: each holds up to MAX_SESSION_ITEMS ids, all in one request body.
MAX_BATCH_SESSIONS = 10_000


class BatchRequestSerializer(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.CharField(max_length=256), required=False, allow_null=True, max_length=100_000
    )
    # A list field around the session serializer, not many=True: that passes allow_null on to each
    # session, and a null session was a 500 (found by schemathesis).
    sessions = serializers.ListField(
        child=BatchSessionSerializer(),
        required=False,
        allow_null=True,
        max_length=MAX_BATCH_SESSIONS,
        help_text="Anonymous sessions to score instead of users; the file has a session_id column.",
    )
    k = serializers.IntegerField(min_value=1, max_value=100, default=10)
    format = serializers.ChoiceField(choices=BatchJob.Format.choices, default=BatchJob.Format.CSV)

    def validate(self, attrs):
        if attrs.get("user_ids") and attrs.get("sessions"):
            raise serializers.ValidationError({"sessions": "Give user_ids or sessions, not both."})
        return attrs


class BatchJobSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(source="config", slug_field="slug", read_only=True)
    progress = serializers.FloatField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = ["id", "model", "status", "file_format", "k", "users_total", "users_done", "progress", "error",
                  "created_at", "finished_at", "download_url"]  # fmt: skip
        read_only_fields = fields

    def get_download_url(self, job) -> str | None:
        return f"/api/v1/batch-jobs/{job.pk}/download" if job.status == BatchJob.Status.SUCCEEDED else None
