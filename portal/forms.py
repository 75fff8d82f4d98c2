"""Forms of the dashboard, data, models and "try it" pages.

Where the services state the rules for an input (``recommender.data.validation``, the recipes'
parameter declarations), a form calls the same functions as the API's serializers, so the portal and
the API accept exactly the same things and say the same about what they refuse.
"""

import json
import re

from django import forms

from core.errors import InvalidInput
from recommender import ml
from recommender.data import validation as data_validation
from recommender.data.importing.problems import UNSTORABLE, UNSTORABLE_REASON
from recommender.data.models import MAX_ID_LENGTH, Dataset, ImportJob
from recommender.ml.metrics import metric_names
from recommender.serving.services import MAX_RANK_ITEMS, MAX_SESSION_ITEMS
from recommender.training.models import AutoDeploy, ModelConfig
from recommender.training.services.configs import default_metric


def _field_check(check, value):
    """``check(value)``, a shared check of the services, its refusal as this field's error."""
    try:
        return check(value)
    except InvalidInput as exc:
        raise forms.ValidationError([reason for reasons in exc.details.values() for reason in reasons]) from exc


class DomainCheckedForm(forms.Form):
    """A form that runs a shared check of the services and shows its refusal on the field it names."""

    def run_check(self, check, *args, **kwargs):
        """``check(*args, **kwargs)``, or ``None`` with its reasons added to the fields (or the form) it names."""
        try:
            return check(*args, **kwargs)
        except InvalidInput as exc:
            for name, reasons in exc.details.items():
                self.add_error(name if name in self.fields else None, reasons)
            if not exc.details:
                self.add_error(None, exc.message)
            return None


MAX_COLUMN_NAME = 200


class DatasetForm(DomainCheckedForm):
    """A new dataset: its name, its kind and, for tables, the column to predict."""

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
        names = [name.strip() for name in self.cleaned_data["sensitive_columns"].split(",") if name.strip()]
        too_long = [name for name in names if len(name) > MAX_COLUMN_NAME]
        if too_long:
            raise forms.ValidationError(f"Column names have at most {MAX_COLUMN_NAME} characters: “{too_long[0]}”.")
        return names

    def clean(self):
        cleaned = super().clean()
        if "kind" in cleaned and "target_column" in cleaned:
            self.run_check(
                data_validation.check_target_column, kind=cleaned["kind"], target_column=cleaned["target_column"]
            )
        return cleaned

    def dataset_values(self):
        """The keyword arguments of ``create_dataset``."""
        return {name: self.cleaned_data[name] for name in self.fields}


class UploadForm(DomainCheckedForm):
    """A file to import and how to read it; everything but the file can be left to detection."""

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
    timestamp_format = forms.CharField(
        required=False,
        max_length=64,
        help_text="Dates as a spreadsheet writes them: “dayfirst” (31/12/2026 23:59), “monthfirst” (12/31/2026 "
        "23:59) or a pattern such as “%d.%m.%Y %H:%M”. Empty: ISO 8601 or Unix time.",
    )

    def clean_delimiter(self):
        value = self.cleaned_data["delimiter"]
        return _field_check(data_validation.clean_delimiter, value) if value else None

    def clean_timestamp_format(self):
        value = self.cleaned_data["timestamp_format"]
        return _field_check(data_validation.clean_timestamp_format, value) if value else None

    def clean_column_mapping(self):
        text = self.cleaned_data["column_mapping"].strip()
        if not text:
            return None
        try:
            mapping = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise forms.ValidationError('Write a JSON object, e.g. {"userId": "user_id"}.') from exc
        return _field_check(data_validation.clean_column_mapping, mapping)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            self.options = self.run_check(
                data_validation.import_options,
                format=cleaned["format"] or None,
                delimiter=cleaned["delimiter"],
                has_header={"yes": True, "no": False}.get(cleaned["has_header"]),
                column_mapping=cleaned["column_mapping"],
                on_error=cleaned["on_error"],
                timestamp_format=cleaned["timestamp_format"],
            )
        return cleaned


# --- Models -----------------------------------------------------------------------------------------------

RANGE_SEPARATOR = ".."


def _param_field(param):
    """A form field for one declared hyperparameter: its help, its range, its default."""
    span = param.describe_range()
    help_text = " ".join(part for part in (param.help, f"Allowed: {span}." if span else "") if part)
    # Labels keep the declared names, which the API's params use too.
    # Left empty, a parameter takes its default, as when an API call omits it.
    common = {"label": param.name, "initial": _shown(param.default), "help_text": help_text, "required": False}
    if param.type == "bool":
        return forms.BooleanField(**common)
    if param.type == "choice":
        return forms.ChoiceField(choices=[(choice, choice) for choice in param.choices], **common)
    if param.type == "int_list":
        return forms.CharField(**{**common, "help_text": f"{help_text} Comma separated."})
    # Numbers are text so that a range can stand for them: the search space of tuning runs.
    example = param.example_range()
    if example:
        low, high = (_shown(value) for value in example)
        help_text = f"{help_text} For tuning, a range such as {low:g}{RANGE_SEPARATOR}{high:g}."
    return forms.CharField(
        **{**common, "help_text": help_text},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def _shown(value):
    """A stored parameter value as the form shows it."""
    if isinstance(value, dict):  # a tuning range
        return f"{value['min']}{RANGE_SEPARATOR}{value['max']}"
    if isinstance(value, list | tuple):
        return ", ".join(str(part) for part in value)
    return value


def _entered(param, value):
    """What a person typed, as the recipe's validation takes it (a range becomes a search space)."""
    if param.type in ("int", "float") and isinstance(value, str) and RANGE_SEPARATOR in value:
        low, _, high = value.partition(RANGE_SEPARATOR)
        return {"min": low.strip(), "max": high.strip()}
    return value


class ModelConfigForm(forms.Form):
    """A model configuration; the hyperparameter fields are generated from the chosen recipe's declarations.

    ``recipe`` names the recipe whose fields to show (the one chosen, else the default); datasets are
    the tenant's datasets of the kind the recipe trains on.
    """

    name = forms.CharField(max_length=100)
    recipe = forms.ChoiceField(
        help_text="Changing the recipe shows its parameters.",
        # portal.js presses the "show its parameters" button when the choice changes.
        widget=forms.Select(attrs={"data-submit-on-change": "reload-recipe"}),
    )
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), empty_label=None)
    schedule = forms.CharField(
        required=False,
        max_length=100,
        help_text="Retrain on a cron schedule (minute hour day month weekday), e.g. “0 3 * * *” for 03:00 "
        "every day; only when new data arrived. Empty: retrain by hand.",
    )
    # The same default as the API's (the model's field default): deploy a new version when it scores better.
    auto_deploy = forms.ChoiceField(
        label="Deploy new versions",
        choices=AutoDeploy.choices,
        initial=ModelConfig._meta.get_field("auto_deploy").default,
    )
    auto_deploy_metric = forms.ChoiceField(label="Compared on", required=False)
    retrain_after_events = forms.IntegerField(
        label="Retrain after new events",
        required=False,
        min_value=1,
        help_text="Drift: retrain when this many events arrived since the latest version (within your plan's "
        "daily runs). Empty: off.",
    )
    retrain_after_new_items_percent = forms.FloatField(
        label="Retrain after new items (%)",
        required=False,
        min_value=0.1,
        max_value=1000,
        help_text="Drift: retrain when items the latest version never saw reach this percent of those it knows. "
        "Empty: off.",
    )

    def __init__(self, *args, datasets, recipe, **kwargs):
        super().__init__(*args, **kwargs)
        self.chosen_recipe = ml.get_recipe(recipe)
        self.fields["recipe"].choices = [(r.name, f"{r.name} ({r.task})") for r in ml.list_recipes()]
        self.fields["recipe"].initial = self.chosen_recipe.name
        wanted_kind = self.chosen_recipe.dataset_kind
        self.fields["dataset"].queryset = datasets.filter(kind=wanted_kind)
        self.fields["dataset"].help_text = f"The {self.chosen_recipe.name} recipe trains on {wanted_kind} data."
        self.fields["auto_deploy_metric"].choices = [
            ("", f"the recipe's default ({default_metric(self.chosen_recipe.name)})"),
            *((name, name) for name in metric_names(self.chosen_recipe.kind)),
        ]
        for param in self.chosen_recipe.params:
            self.fields[f"param_{param.name}"] = _param_field(param)
        if self.chosen_recipe.task == "prediction":
            # Drift is measured on events: prediction models retrain by hand or on their schedule.
            del self.fields["retrain_after_events"], self.fields["retrain_after_new_items_percent"]
            self.fields["feature_columns"] = forms.CharField(
                label="Feature columns",
                required=False,
                help_text="Comma separated: the columns to learn from. Empty: every column but the target and "
                "those that look like identifiers (the dataset's page names them).",
            )

    @classmethod
    def initial_for(cls, config):
        """Initial values that show ``config`` as it is stored."""
        initial = {field: getattr(config, field) for field in ("name", "recipe", "schedule", "auto_deploy")}
        initial.update(dataset=config.dataset_id, auto_deploy_metric=config.auto_deploy_metric)
        initial.update(feature_columns=", ".join(config.feature_columns))
        initial.update(retrain_after_events=config.retrain_after_events,
                       retrain_after_new_items_percent=config.retrain_after_new_items_percent)  # fmt: skip
        initial.update({f"param_{name}": _shown(value) for name, value in config.params.items()})
        return initial

    def param_fields(self):
        return [self[f"param_{param.name}"] for param in self.chosen_recipe.params]

    def setting_fields(self):
        names = ("feature_columns", "schedule", "retrain_after_events", "retrain_after_new_items_percent",
                 "auto_deploy", "auto_deploy_metric")  # fmt: skip
        return [self[name] for name in names if name in self.fields]

    def clean_feature_columns(self):
        return [name.strip() for name in self.cleaned_data["feature_columns"].split(",") if name.strip()]

    def clean(self):
        cleaned = super().clean()
        entered = {param: cleaned.get(f"param_{param.name}") for param in self.chosen_recipe.params}
        params = {param.name: _entered(param, value) for param, value in entered.items() if value not in (None, "")}
        try:
            cleaned["params"] = self.chosen_recipe.validate(params, allow_search_space=True)
        except ml.InvalidParams as exc:
            self.add_service_errors({f"params.{name}": reason for name, reason in exc.errors.items()})
        return cleaned

    def add_service_errors(self, errors):
        """Put the reasons a service gave (``{"params.l2": reason, "schedule": reason}``) beside their fields."""
        for name, reason in errors.items():
            field = name.replace("params.", "param_", 1)
            self.add_error(field if field in self.fields and field not in self.errors else None, reason)

    def service_values(self):
        """The configuration as ``create_config``/``update_config`` take it; a blank metric is left out."""
        values = {name: self.cleaned_data[name] for name in ("name", "recipe", "dataset", "schedule", "auto_deploy")}
        values["params"] = self.cleaned_data["params"]
        if "retrain_after_events" in self.fields:
            values["retrain_after_events"] = self.cleaned_data["retrain_after_events"]
            values["retrain_after_new_items_percent"] = self.cleaned_data["retrain_after_new_items_percent"]
        if "feature_columns" in self.fields:
            values["feature_columns"] = self.cleaned_data["feature_columns"]
        if self.cleaned_data["auto_deploy_metric"]:
            values["auto_deploy_metric"] = self.cleaned_data["auto_deploy_metric"]
        return values


class TrainForm(forms.Form):
    """How to train now: tuning trials are needed when the configuration holds ranges."""

    tuning_trials = forms.IntegerField(
        min_value=0,
        max_value=30,
        initial=0,
        help_text="With ranges among the parameters: how many sets to try before training the best one.",
    )

    def __init__(self, *args, config, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config
        if _has_ranges(config):
            self.fields["tuning_trials"].initial = 8

    def clean_tuning_trials(self):
        trials = self.cleaned_data["tuning_trials"]
        if _has_ranges(self.config) and not trials:
            raise forms.ValidationError("This model's parameters include ranges: choose how many sets to try.")
        return trials


def _has_ranges(config):
    return any(isinstance(value, dict) for value in config.params.values())


# --- Try it -----------------------------------------------------------------------------------------------


class TryForm(forms.Form):
    """Base of the "try it" forms: a deployed model of the kind the form asks, chosen by slug."""

    model = forms.ChoiceField()

    def __init__(self, *args, configs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(config.slug, config.name) for config in configs]


class RecommendForm(TryForm):
    """Top items for one of the tenant's users."""

    user_id = forms.CharField(label="User id", max_length=256, help_text="One of your users, as in your events.")
    k = forms.IntegerField(label="How many", min_value=1, max_value=100, initial=10)
    exclude_seen = forms.BooleanField(
        label="Leave out items the user already interacted with", required=False, initial=True
    )


class SimilarItemsForm(TryForm):
    """Items like one item of the catalogue."""

    item_id = forms.CharField(label="Item id", max_length=256)
    k = forms.IntegerField(label="How many", min_value=1, max_value=100, initial=10)


def _storable(value):
    """No stored id or title holds such a character, and PostgreSQL refuses to even compare one."""
    if UNSTORABLE.search(value):
        raise forms.ValidationError(f"This {UNSTORABLE_REASON}.")


class RankForm(TryForm):
    """Items of the catalogue to put in the order a model prefers for one user, as ``POST …/rank`` does."""

    user_id = forms.CharField(
        label="User id",
        max_length=MAX_ID_LENGTH,
        validators=[_storable],
        help_text="One of your users, as in your events.",
    )
    item_ids = forms.CharField(
        label="Item ids",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=f"One per line or separated by commas, up to {MAX_RANK_ITEMS}.",
    )

    def clean_item_ids(self):
        item_ids = _item_id_list(self.cleaned_data["item_ids"], MAX_RANK_ITEMS)
        if not item_ids:
            raise forms.ValidationError("Give at least one item id.")
        return item_ids


def _item_id_list(text, limit):
    """Item ids one per line or separated by commas, in order; refuses more than ``limit`` or unstorable ones."""
    item_ids = [piece.strip() for piece in re.split(r"[,\r\n]", text) if piece.strip()]
    if len(item_ids) > limit:
        raise forms.ValidationError(f"At most {limit} item ids at a time; this has {len(item_ids)}.")
    for item_id in item_ids:
        if len(item_id) > MAX_ID_LENGTH:
            raise forms.ValidationError(f"An item id has at most {MAX_ID_LENGTH} characters: {item_id[:40]}…")
        if UNSTORABLE.search(item_id):
            raise forms.ValidationError(f"An item id {UNSTORABLE_REASON}.")
    return item_ids


class SessionForm(TryForm):
    """An anonymous visitor's recent items, oldest first, as ``POST …/session-recommendations`` takes them."""

    item_ids = forms.CharField(
        label="Recent item ids, oldest first",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"One per line or separated by commas, up to {MAX_SESSION_ITEMS}. No user id: a visitor's session.",
    )
    k = forms.IntegerField(label="How many", min_value=1, max_value=100, initial=10)
    exclude_seen = forms.BooleanField(label="Leave out the session's own items", required=False, initial=True)

    def clean_item_ids(self):
        return _item_id_list(self.cleaned_data["item_ids"], MAX_SESSION_ITEMS)


class PredictForm(TryForm):
    """A row to predict for: one text field per feature column the model was trained on."""

    def __init__(self, *args, columns=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Another model has other columns: portal.js asks for them as soon as the choice changes.
        self.fields["model"].widget.attrs["data-submit-on-change"] = "predict-columns"
        self.columns = list(columns)
        for column in self.columns:
            self.fields[f"column_{column}"] = forms.CharField(label=column, required=False)

    def row(self):
        """The row as serving takes it; an empty field is a missing value."""
        return {column: self.cleaned_data[f"column_{column}"] or None for column in self.columns}


class CatalogueFilterForm(forms.Form):
    """Filters of the catalogue page: a piece of an item id or title, and active or deactivated items."""

    STATE_CHOICES = [("", "Active and deactivated"), ("active", "Active"), ("inactive", "Deactivated")]

    q = forms.CharField(label="Item id or title", required=False, max_length=MAX_ID_LENGTH, validators=[_storable])
    state = forms.ChoiceField(label="State", choices=STATE_CHOICES, required=False)

    def filters(self):
        """The keyword arguments of ``search_catalogue``; nothing filters while the form is invalid."""
        if not self.is_valid():
            return {}
        state = self.cleaned_data["state"]
        return {"text": self.cleaned_data["q"], "is_active": {"active": True, "inactive": False}.get(state)}


class PseudonymisationForm(forms.Form):
    """Whether end-user ids are stored as keyed pseudonyms rather than as sent."""

    pseudonymize_user_ids = forms.BooleanField(
        label="Pseudonymise user ids",
        required=False,
        help_text="Store each user id as an HMAC of it under this organisation's key, never as sent. "
        "Can only be switched while no interactions or user features are stored.",
    )


class EraseEndUserForm(forms.Form):
    """One of the tenant's own users to erase, by the id the tenant sends in its events."""

    user_id = forms.CharField(
        label="User id",
        max_length=MAX_ID_LENGTH,
        strip=False,
        validators=[_storable],
        help_text="As your applications send it; it is pseudonymised here when that setting is on.",
    )
