"""Forms of the dashboard, data, models and "try it" pages.

Where the public API already states the rules for an input (a DRF serializer),
the form hands its cleaned values to that serializer, so the portal and the API
accept exactly the same things and say the same about what they refuse.
"""

from django import forms

from recommender.data.api.serializers import DatasetCreateSerializer, ImportCreateSerializer
from recommender.data.models import Dataset, ImportJob


class SerializerCheckedForm(forms.Form):
    """A form whose values are judged again by the API's ``serializer_class``; its errors land on the fields."""

    serializer_class = None

    def serializer_data(self):
        """The values to judge: what the person left empty is left out, as an API caller would."""
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "", [], {})}

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            self.serializer = self.serializer_class(data=self.serializer_data())
            if not self.serializer.is_valid():
                for name, problems in self.serializer.errors.items():
                    self.add_error(name if name in self.fields else None, [str(p) for p in problems])
        return cleaned


class DatasetForm(SerializerCheckedForm):
    serializer_class = DatasetCreateSerializer

    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(
        choices=Dataset.Kind.choices,
        help_text="Interactions: who did what with which item. Items: your catalogue. Users: features of your "
        "users. Tabular: any columns and one to predict.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    target_column = forms.CharField(
        required=False, max_length=200, help_text="Tabular datasets only: the column a prediction model learns."
    )
    sensitive_columns = forms.CharField(
        required=False,
        help_text="Optional, comma separated: feature columns stored encrypted and shown masked.",
    )

    def clean_sensitive_columns(self):
        return [name.strip() for name in self.cleaned_data["sensitive_columns"].split(",") if name.strip()]


class UploadForm(SerializerCheckedForm):
    """A file to import and how to read it; everything but the file can be left to detection."""

    serializer_class = ImportCreateSerializer
    HEADER_CHOICES = [("", "Detect"), ("yes", "Yes"), ("no", "No")]

    file = forms.FileField(help_text="CSV, JSON Lines or Parquet, optionally gzip-compressed.")
    on_error = forms.ChoiceField(
        label="When a row is bad",
        choices=ImportJob.OnError.choices,
        initial=ImportJob.OnError.FAIL,
        widget=forms.RadioSelect,
    )
    format = forms.ChoiceField(
        choices=[("", "Detect from the name and content"), *ImportJob.Format.choices], required=False
    )
    delimiter = forms.CharField(
        required=False, strip=False, max_length=9, help_text="CSV only: one character, or “tab”. Detected if empty."
    )
    has_header = forms.ChoiceField(label="First line is a header", choices=HEADER_CHOICES, required=False)
    column_mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Optional JSON: file column → platform column, e.g. {"userId": "user_id"}.',
    )
