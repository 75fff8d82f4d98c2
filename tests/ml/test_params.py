"""Parameter declarations, validation messages, search spaces and the recipe registry."""

import json

import pytest

from recommender.ml import DEFAULT_RECOMMENDATION_RECIPE, InvalidParams, Param, get_recipe, list_recipes
from recommender.ml.errors import UnknownRecipe


def errors_for(recipe_name, params, **kwargs):
    with pytest.raises(InvalidParams) as caught:
        get_recipe(recipe_name).validate(params, **kwargs)
    return caught.value.errors


def test_defaults_are_filled_and_values_coerced():
    params = get_recipe("neumf").validate({"epochs": "3", "learning_rate": 0.01, "mlp_layers": "16,8"})
    assert params["epochs"] == 3
    assert params["learning_rate"] == 0.01
    assert params["mlp_layers"] == (16, 8)
    assert params["negatives"] == 4


def test_out_of_range_names_field_and_range():
    assert errors_for("neumf", {"epochs": 0}) == {"epochs": "must be an integer between 1 and 500, got 0"}


def test_wrong_type_is_rejected():
    errors = errors_for("neumf", {"batch_size": "lots", "dropout": True})
    assert "must be an integer" in errors["batch_size"]
    assert "must be a number between 0 and 0.9" in errors["dropout"]


def test_unknown_key_lists_valid_parameters():
    errors = errors_for("ease", {"lambda": 100})
    assert "unknown parameter" in errors["lambda"]
    assert "l2" in errors["lambda"]


def test_bad_choice_lists_choices():
    errors = errors_for("mlp_classifier", {"activation": "sigmoid"})
    assert errors["activation"] == "must be one of 'relu', 'tanh', 'gelu', got 'sigmoid'"


def test_bad_int_list_and_bool():
    errors = errors_for("two_tower", {"tower_layers": [64, 0], "logq_correction": "maybe"})
    assert "non-empty list of integers between 1 and 4096" in errors["tower_layers"]
    assert errors["logq_correction"] == "must be true or false, got 'maybe'"


def test_every_error_is_reported_at_once():
    assert set(errors_for("neumf", {"epochs": -1, "l2": 5, "nope": 1})) == {"epochs", "l2", "nope"}


def test_search_space_is_accepted_only_when_allowed():
    space = {"embedding_dim": {"min": 16, "max": 64}, "dropout": {"choices": [0.0, 0.2]}}
    validated = get_recipe("two_tower").validate(space, allow_search_space=True)
    assert validated["embedding_dim"] == {"min": 16, "max": 64, "log": False}
    assert validated["dropout"] == {"choices": [0.0, 0.2]}
    assert "must be an integer" in errors_for("two_tower", space)["embedding_dim"]


def test_search_space_bounds_are_checked():
    errors = errors_for(
        "two_tower", {"embedding_dim": {"min": 1, "max": 64}, "dropout": {"choices": [2.0]}}, allow_search_space=True
    )
    assert "between 2 and 1024" in errors["embedding_dim"]
    assert "between 0 and 0.9" in errors["dropout"]


def test_param_to_dict_is_json_serialisable():
    described = [param.to_dict() for recipe in list_recipes() for param in recipe.params]
    json.dumps(described)
    assert {"name", "type", "default", "min", "max", "choices", "help"} <= set(described[0])


def test_param_rejects_invalid_declarations():
    with pytest.raises(ValueError):
        Param("x", "int", 0, min=1)
    with pytest.raises(ValueError):
        Param("x", "colour", "red")


def test_registry():
    names = [recipe.name for recipe in list_recipes()]
    assert {"popularity", "ease", "neumf", "two_tower", "mlp_classifier", "mlp_regressor"} <= set(names)
    assert DEFAULT_RECOMMENDATION_RECIPE in names
    assert get_recipe("ease").task == "recommendation"
    assert get_recipe("mlp_regressor").supports == {"predict"}
    json.dumps([recipe.to_dict() for recipe in list_recipes()])


def test_unknown_recipe_lists_valid_names():
    with pytest.raises(UnknownRecipe) as caught:
        get_recipe("matrix_magic")
    assert isinstance(caught.value, KeyError)
    assert "neumf" in str(caught.value) and "matrix_magic" in str(caught.value)
