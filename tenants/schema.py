"""OpenAPI description of API-key authentication (loaded by TenantsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a tenant API key with the scope the endpoint needs.",
        }


ERROR_RESPONSES = {
    "400": "Invalid request: `details` names the fields.",
    "401": "No usable API key.",
    "403": "The key lacks the scope, or the tenant is suspended.",
    "404": "No such object in your tenant.",
    "429": "Rate limit or plan quota exceeded (see `Retry-After`).",
    "503": "The database is briefly unavailable; retry in a few seconds.",
}


def add_error_responses(result, generator, request, public):
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
            # Errors a view declares itself (409, 413…) come with a description only: give them the shape too.
            for status, response in responses.items():
                if str(status)[0] in "45" and "content" not in response:
                    response["content"] = reference
    return result
