"""What ``OPTIONS`` answers on the API."""

from rest_framework.metadata import SimpleMetadata


class ApiMetadata(SimpleMetadata):
    """The view's name, description and media types, without DRF's per-method form description.

    DRF describes the fields of each writable method by building its serializer and, for a ``PUT``, by
    looking up the object to check permissions on it; on a view that is not a single object (the
    catalogue's bulk ``PUT``) that lookup failed as a 500. The OpenAPI schema describes the fields.
    """

    def determine_actions(self, request, view):
        return {}
