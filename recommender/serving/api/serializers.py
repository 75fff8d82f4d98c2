"""Request and response shapes of the serving API."""

from rest_framework import serializers

from ..models import BatchJob

MAX_K = 500
# Items one rank request may order.
MAX_RANK_ITEMS = 500


def _id_list(value):
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


class RecommendationQuerySerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=256)
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    exclude_seen = serializers.BooleanField(default=True, help_text="Leave out items the user already has.")
    exclude = serializers.CharField(required=False, default="", help_text="Comma-separated item ids to leave out.")
    category = serializers.CharField(
        required=False, default="", help_text="Comma-separated categories: only items in any of them."
    )
    explain = serializers.BooleanField(default=False, help_text="For each item, the user's items that support it.")

    def validate(self, attrs):
        return {**attrs, "exclude": _id_list(attrs["exclude"]), "category": _id_list(attrs["category"])}


class SimilarItemsQuerySerializer(serializers.Serializer):
    item_id = serializers.CharField(max_length=256)
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    exclude = serializers.CharField(required=False, default="")
    category = serializers.CharField(required=False, default="")

    def validate(self, attrs):
        return {**attrs, "exclude": _id_list(attrs["exclude"]), "category": _id_list(attrs["category"])}


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


class FallbackSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="What served instead: 'popularity'.")
    reason = serializers.ChoiceField(
        choices=["unknown_user", "erased_user", "no_deployment", "unknown_item"], help_text="Why it served."
    )


class RecommendationResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    item_id = serializers.CharField(required=False)
    items = ScoredItemSerializer(many=True)
    fallback = FallbackSerializer(allow_null=True)
    request_id = serializers.CharField()


class PredictResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.DictField())
    request_id = serializers.CharField()


class BatchRequestSerializer(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.CharField(max_length=256), required=False, allow_null=True, max_length=100_000
    )
    k = serializers.IntegerField(min_value=1, max_value=100, default=10)
    format = serializers.ChoiceField(choices=BatchJob.Format.choices, default=BatchJob.Format.CSV)


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
