"""The client's version: it follows the API's (the OpenAPI schema's ``info.version``)."""

__version__ = "1.0.0"
