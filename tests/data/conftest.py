"""Fixtures for the data layer: datasets, and uploads that run their import in-process."""

import gzip
import io
import json

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recommender.data.services import create_dataset
from tenants.audit import Actor


@pytest.fixture
def make_dataset():
    def make(world, kind="interactions", name=None, **fields):
        return create_dataset(actor=Actor.system(world.tenant), name=name or f"{kind} data", kind=kind, **fields)

    return make


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """POST a file to a dataset's imports; the import runs when the request commits. Returns (response, job)."""

    def post(world, dataset, content, name="data.csv", **options):
        if isinstance(content, str):
            content = content.encode()
        fields = {key: json.dumps(value) if isinstance(value, dict) else value for key, value in options.items()}
        with django_capture_on_commit_callbacks(execute=True):
            response = world.client.post(
                f"/api/v1/datasets/{dataset.pk}/imports",
                {"file": SimpleUploadedFile(name, content), **fields},
                format="multipart",
            )
        if response.status_code != 202:
            return response, None
        return response, world.client.get(f"/api/v1/imports/{response.json()['id']}").json()

    return post


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def gzipped(content) -> bytes:
    return gzip.compress(content.encode() if isinstance(content, str) else content)
