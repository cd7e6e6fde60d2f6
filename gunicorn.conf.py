"""gunicorn settings, read automatically when gunicorn starts in the repository root (and in the image's /app).

The command line still chooses the bind address and the number of workers (Dockerfile, docker-compose.yml).

Each worker serves requests in threads: a request waiting on a slow cluster (at most the execution's driver timeout,
10 s by default, per cluster call) holds one thread, not the whole worker, so other users are still served. The
worker timeout stays well above what a request's few cluster calls can take.
"""

import gc
import os

worker_class = "gthread"
threads = int(os.environ.get("STRIV_WEB_THREADS", "8"))
timeout = int(os.environ.get("STRIV_WEB_TIMEOUT", "120"))
graceful_timeout = timeout


def post_worker_init(worker) -> None:
    """Load every view now and exempt the start-up objects from garbage collection.

    A Django process holds about 100,000 long-lived objects (modules, classes, settings). Python's full collections
    scan them all, which stalls a request for 30 to 200 ms every few hundred requests and dominated the API's p99
    latency (benchmarks/api.py). Frozen, they are never scanned again; full collections then take a few milliseconds.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf, hence every view, serializer and model
    gc.collect()
    gc.freeze()
