"""gunicorn settings, read automatically when gunicorn starts in the repository root (and in the image's /app).

The command line still chooses the bind address and the number of workers (Dockerfile, docker-compose.yml).
"""

import gc


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
