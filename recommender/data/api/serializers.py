"""Serializers of the data API: they check request shapes; the services judge the data itself."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import InvalidInput

from .. import validation
from ..models import MAX_CATEGORY_LENGTH, MAX_ID_LENGTH, MAX_TITLE_LENGTH, Dataset, ImportJob, Item, TenantDataSettings
from ..selectors import import_progress, shown_features

MAX_BATCH = 1000
ITEM_FIELDS = {"item_id", "title", "categories", "features", "is_active"}


def _checked(check, value):
    """``check(value)`` from the shared validation, its refusal as this field's DRF error."""
    try:
        return check(value)
    except InvalidInput as exc:
        raise serializers.ValidationError(next(iter(exc.details.values()))) from exc


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "target_column",
            "sensitive_columns",
            "is_event_stream",
            "row_count",
            "stats_updated_at",
            "created_at",
        ]
        read_only_fields = fields


class DatasetDetailSerializer(DatasetSerializer):
    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "stats"]
        read_only_fields = fields


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Dataset.Kind.choices)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    target_column = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Required for tabular datasets."
    )
    sensitive_columns = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        help_text="Feature columns to store encrypted (items, users and tabular datasets).",
    )

    def validate(self, attrs):
        try:
            validation.check_target_column(kind=attrs["kind"], target_column=attrs["target_column"])
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.details) from exc
        return attrs


class ImportJobSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    # Read-only model fields lose allow_blank; the format is empty until the import has worked it out.
    format = serializers.ChoiceField(choices=ImportJob.Format.choices, allow_blank=True, read_only=True)
    progress = serializers.SerializerMethodField(help_text="rows_read / rows_total, between 0 and 1; null if unknown.")

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "dataset",
            "status",
            "file_name",
            "file_size",
            "format",
            "options",
            "rows_read",
            "rows_total",
            "rows_total_is_estimate",
            "progress",
            "rows_loaded",
            "rows_rejected",
            "rows_duplicate",
            "error_count",
            "errors",
            "message",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job) -> float | None:
        return import_progress(job)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "minLength": 1}})
class _JSONField(serializers.JSONField):
    """A JSON form field whose value nested too deeply to decode is invalid (400), not a RecursionError (500)."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except RecursionError:
            self.fail("invalid")


@extend_schema_field({"type": "boolean"})
class _FormBooleanField(serializers.BooleanField):
    """A boolean form field that reads exactly ``true`` or ``false``, as the schema's boolean says (DRF's
    also takes ``1``, ``yes``, ``on``, ``null``...). Left out, it is ``None`` (``allow_null`` lets the
    default through; a sent ``null`` is still refused)."""

    def to_internal_value(self, data):
        if data is True or data == "true":
            return True
        if data is False or data == "false":
            return False
        self.fail("invalid", input=data)


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, JSON Lines or Parquet, optionally gzip-compressed.")
    format = serializers.ChoiceField(
        choices=ImportJob.Format.choices, required=False, help_text="Else from the file name, else from the content."
    )
    delimiter = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=9,
        help_text="CSV only: one character, or 'tab'. Else sniffed.",
    )
    has_header = _FormBooleanField(
        required=False, allow_null=True, default=None, help_text="true or false; else sniffed."
    )
    column_mapping = _JSONField(
        required=False, binary=True, help_text='File column → platform column, e.g. {"userId": "user_id"}.'
    )
    on_error = serializers.ChoiceField(choices=ImportJob.OnError.choices, default=ImportJob.OnError.FAIL)
    compression = serializers.ChoiceField(choices=list(validation.COMPRESSIONS), default="auto")
    timestamp_format = serializers.CharField(
        required=False,
        max_length=64,
        help_text="How timestamps are written when not ISO 8601 or Unix time: 'dayfirst' (31/12/2026 23:59), "
        "'monthfirst' (12/31/2026 23:59) or a strftime pattern such as '%d.%m.%Y %H:%M'. Without a zone: UTC.",
    )

    def to_internal_value(self, data):
        # DRF reads an empty form field as one left out (so `format=` meant "detect it"); the schema's
        # enums and types say it is invalid, and so does this.
        sent = data.getlist if hasattr(data, "getlist") else lambda name: []
        empty = [name for name in self.fields if name != "file" and "" in sent(name)]
        if empty:
            raise serializers.ValidationError({name: ["This field may not be blank."] for name in empty})
        return super().to_internal_value(data)

    def validate_delimiter(self, value):
        return _checked(validation.clean_delimiter, value)

    def validate_timestamp_format(self, value):
        return _checked(validation.clean_timestamp_format, value)

    def validate_column_mapping(self, value):
        return _checked(validation.clean_column_mapping, value)

    def options(self):
        """The import options to store with the job (everything but the file)."""
        given = {name: value for name, value in self.validated_data.items() if name != "file"}
        return validation.import_options(**given)


class EventsRequestSerializer(serializers.Serializer):
    events = serializers.ListField(
        min_length=1,
        max_length=MAX_BATCH,
        help_text=(
            "Objects with user_id, item_id and optional event_type, value, timestamp, event_id, recommendation_id."
        ),
    )
    dataset = serializers.IntegerField(
        required=False, help_text="An interactions dataset; else the tenant's 'events' dataset."
    )


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    reason = serializers.CharField()


class EventsResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Events whose event_id was already stored: not stored again.")
    rejected = RejectionSerializer(many=True)


class ItemInputSerializer(serializers.Serializer):
    """One catalogue item of an upsert: fields it leaves out keep their stored values."""

    # The messages an import's rows get for the same problems.
    item_id = serializers.CharField(
        max_length=MAX_ID_LENGTH, error_messages={"blank": "is missing or empty", "required": "is missing or empty"}
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TITLE_LENGTH)
    categories = serializers.ListField(child=serializers.CharField(max_length=MAX_CATEGORY_LENGTH), required=False)
    features = serializers.DictField(required=False, help_text="Your own values; sensitive ones are encrypted.")
    is_active = serializers.BooleanField(required=False, error_messages={"invalid": "{input!r} is not true or false"})

    def to_internal_value(self, data):
        # Refused rather than dropped: a misspelt field would otherwise vanish without a word.
        unknown = sorted(set(data) - ITEM_FIELDS) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({unknown[0]: ["Unknown field; put your own values in 'features'."]})
        return super().to_internal_value(data)


class ItemsUpsertSerializer(serializers.Serializer):
    items = serializers.ListField(child=ItemInputSerializer(), min_length=1, max_length=MAX_BATCH)

    def validate_items(self, items):
        return [dict(item) for item in items]


class ItemSerializer(serializers.ModelSerializer):
    features = serializers.SerializerMethodField(help_text="Sensitive features are shown masked.")

    class Meta:
        model = Item
        fields = ["item_id", "title", "categories", "features", "is_active", "created_at", "updated_at"]
        read_only_fields = fields

    def get_features(self, item) -> dict:
        return shown_features(item.features)


class UpsertResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class ErasureResultSerializer(serializers.Serializer):
    interactions_deleted = serializers.IntegerField()
    features_deleted = serializers.IntegerField()
    uploads_deleted = serializers.IntegerField(help_text="Kept uploads of failed imports (all go: may hold the user).")
    batch_files_deleted = serializers.IntegerField(help_text="Batch files with a line for the user.")


class DataSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = TenantDataSettings
        fields = ["pseudonymize_user_ids", "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs = {"pseudonymize_user_ids": {"required": True}}
