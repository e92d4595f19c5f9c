"""The clock: moves every cluster, Glue run, EMR Serverless application and job run on as time passes, so that their
events come when their states change (on AWS nobody has to ask first)."""

from __future__ import annotations

import threading
import time

from moto.emr.models import emr_backends
from moto.emrserverless.models import emrserverless_backends
from moto.glue.models import glue_backends

from . import emr, glue, serverless
from .state import LOCK, SETTLED

# How often the clock moves clusters and Glue runs on when nobody asks (seconds)
TICK_SECONDS = 0.05


def tick_everything() -> None:
    """One tick: every resource moved on to where it is by now, and every change announced."""
    with LOCK:
        for regions in emr_backends.values():
            for backend in regions.values():
                for cluster in list(backend.clusters.values()):
                    if cluster.id in SETTLED:
                        continue
                    emr.tick(cluster)
                    if cluster.state in emr.ENDED_CLUSTER_STATES:
                        SETTLED.add(cluster.id)
        for account, regions in glue_backends.items():
            for region, backend in regions.items():
                for job in list(backend.jobs.values()):
                    for run in list(job.job_runs):
                        if glue.announced_final(run):
                            continue
                        run._sp_account, run._sp_region = account, region
                        glue.announce(run, account, region)
        for regions in emrserverless_backends.values():
            for backend in regions.values():
                serverless.advance(backend)
    serverless.announce()


def _run() -> None:
    while True:
        time.sleep(TICK_SECONDS)
        try:
            tick_everything()
        except Exception as error:  # noqa: BLE001 - the clock must keep ticking
            print(f"emulator clock: {type(error).__name__}: {error}", flush=True)


def start() -> None:
    threading.Thread(target=_run, daemon=True).start()
