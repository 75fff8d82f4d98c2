"""Post-processing hooks of the OpenAPI schema: the error answers every operation documents, links between
operations for stateful clients and fuzzers, and patterns for text inputs."""

from typing import Any

# A generated OpenAPI document (nested JSON objects).
Schema = dict[str, Any]

ERROR_RESPONSES = {
    "400": "Invalid request: `details` names the fields.",
    "401": "No usable API key.",
    "403": "The key lacks the scope, or the tenant is suspended.",
    "404": "No such object in your tenant.",
    "429": "Rate limit or plan quota exceeded (see `Retry-After`).",
    "503": "The database is briefly unavailable; retry in a few seconds.",
}

BODY_TOO_LARGE = "The body is over the plan's limit (`max_request_body_bytes` for JSON, the upload size for files)."
UNSUPPORTED_MEDIA_TYPE = "The body is not in a media type this operation documents (JSON, or multipart for uploads)."


def add_error_responses(result: Schema, generator: Any, request: Any, public: bool) -> Schema:
    """Postprocessing hook: document the one error shape on every API operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string", "example": "invalid"},
                        "message": {"type": "string", "example": "k: Ensure this value is at least 1."},
                        "details": {"type": "object", "additionalProperties": True},
                    },
                }
            },
        },
    )
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path.startswith(("/api/v1/schema", "/api/v1/docs")):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(status, {"description": description, "content": reference})
            if "requestBody" in operation:
                responses.setdefault("413", {"description": BODY_TOO_LARGE, "content": reference})
                responses.setdefault("415", {"description": UNSUPPORTED_MEDIA_TYPE, "content": reference})
            # Errors a view declares itself (409, 413…) come with a description only: give them the shape too.
            for status, response in responses.items():
                if str(status)[0] in "45" and "content" not in response:
                    response["content"] = reference
    _describe_text_inputs(result)
    _add_links(result)
    return result


# OpenAPI links: where the id an operation needs comes from. Clients (and Schemathesis' stateful phase)
# follow them from what one answer returns to the operations that take it.
# (path, method, status) -> {link name: (operationId, {parameter: runtime expression})}
_SLUG = {"slug": "$response.body#/slug"}
LINKS = {
    ("/api/v1/models", "post", "201"): {
        "GetModel": ("models_retrieve", _SLUG),
        "ChangeModel": ("models_partial_update", _SLUG),
        "TrainModel": ("models_train_create", _SLUG),
        "Recommend": ("models_recommendations_retrieve", _SLUG),
        "SimilarItems": ("models_similar_items_retrieve", _SLUG),
        "Rank": ("models_rank_create", _SLUG),
        "Predict": ("models_predict_create", _SLUG),
        "BatchRecommendations": ("models_batch_recommendations_create", _SLUG),
        "ListRuns": ("models_runs_list", _SLUG),
        "ListVersions": ("models_versions_list", _SLUG),
        "DeleteModel": ("models_destroy", _SLUG),
    },
    ("/api/v1/models/{slug}/versions", "get", "200"): {
        "DeployFirstVersion": (
            "models_versions_deploy_create",
            {"slug": "$request.path.slug", "number": "$response.body#/results/0/number"},
        ),
    },
    ("/api/v1/models/{slug}/train", "post", "202"): {
        "GetRun": ("runs_retrieve", {"id": "$response.body#/id"}),
        "CancelRun": ("runs_cancel_create", {"id": "$response.body#/id"}),
    },
    ("/api/v1/models/{slug}/batch-recommendations", "post", "202"): {
        "GetBatchJob": ("batch_jobs_retrieve", {"id": "$response.body#/id"}),
        "DownloadBatchFile": ("batch_jobs_download_retrieve", {"id": "$response.body#/id"}),
    },
    ("/api/v1/items", "get", "200"): {
        "GetFirstItem": ("items_retrieve", {"item_id": "$response.body#/results/0/item_id"}),
        "DeactivateFirstItem": ("items_destroy", {"item_id": "$response.body#/results/0/item_id"}),
    },
    ("/api/v1/models", "get", "200"): {
        "GetFirstModel": ("models_retrieve", {"slug": "$response.body#/results/0/slug"}),
        "RecommendWithFirstModel": ("models_recommendations_retrieve", {"slug": "$response.body#/results/0/slug"}),
        "RankWithFirstModel": ("models_rank_create", {"slug": "$response.body#/results/0/slug"}),
    },
    ("/api/v1/datasets", "post", "201"): {
        "GetDataset": ("datasets_retrieve", {"id": "$response.body#/id"}),
        "DatasetStats": ("datasets_stats_retrieve", {"id": "$response.body#/id"}),
        "ImportIntoDataset": ("datasets_imports_create", {"id": "$response.body#/id"}),
        "ListDatasetImports": ("datasets_imports_list", {"id": "$response.body#/id"}),
    },
    ("/api/v1/datasets/{id}/imports", "post", "202"): {
        "GetImport": ("imports_retrieve", {"id": "$response.body#/id"}),
    },
    ("/api/v1/api-keys", "post", "201"): {
        "GetApiKey": ("api_keys_retrieve", {"id": "$response.body#/id"}),
        "RevokeApiKey": ("api_keys_destroy", {"id": "$response.body#/id"}),
    },
}


def _add_links(result: Schema) -> None:
    paths = result.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue  # the operation changed: the schema test notices links that no longer attach
        response["links"] = {
            name: {"operationId": operation_id, "parameters": parameters}
            for name, (operation_id, parameters) in links.items()
        }


# Text the API stores cannot hold a NUL character (PostgreSQL refuses it); every string a request sends is
# checked for one and refused with a 400, so the schema says so.
NO_NUL = "^[^\\x00]*$"
SLUG = "^[-a-zA-Z0-9_]+$"


def _no_nul(schema: object) -> None:
    """Add the no-NUL pattern to every free-text string of a request schema, through arrays and objects."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not ({"pattern", "format", "enum"} & set(schema)):
        schema["pattern"] = NO_NUL
    for key in ("items", "additionalProperties"):
        _no_nul(schema.get(key))
    for value in schema.get("properties", {}).values():
        _no_nul(value)


# Request objects whose serializer refuses a field it does not know (rather than ignoring it).
CLOSED_REQUEST_OBJECTS = {"ItemInputRequest"}


def _describe_text_inputs(result: Schema) -> None:
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _no_nul(schema)
        if name in CLOSED_REQUEST_OBJECTS:
            schema["additionalProperties"] = False
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "slug":
                    # The route takes slugs only; anything else is no such model (404).
                    parameter["schema"].setdefault("pattern", SLUG)
                _no_nul(parameter.get("schema"))
