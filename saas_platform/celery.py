"""The Celery application shared by web processes (to send) and workers (to run)."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")

app = Celery("saas_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_embedded_broker_folders(sender, **kwargs):
    """The file-system broker of the embedded set-up needs its folders to exist."""
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        folder = (sender.conf.broker_transport_options or {}).get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


@worker_init.connect
def _lower_the_workers_priority(**kwargs):
    """Run the worker (and the pool processes it forks, which inherit it) at ``WORKER_NICENESS``: a long
    training or import step then yields the CPU to web processes on the same cores, whose requests take
    milliseconds (tenant A's recommendations while tenant B trains and imports at its plan's limits)."""
    from django.conf import settings

    if settings.WORKER_NICENESS > 0:
        os.nice(settings.WORKER_NICENESS)
