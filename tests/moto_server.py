"""Start moto's S3-compatible server on 127.0.0.1 for tests that talk to S3 through boto3 over real HTTP."""

from __future__ import annotations

from moto.server import ThreadedMotoServer

#: Environment that points boto3 at dummy credentials and away from any real AWS configuration on the machine.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/striv-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/striv-test-aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Variables removed so they cannot override the dummy credentials.
UNSET_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")


def moto_server_start() -> tuple[ThreadedMotoServer, str]:
    """Start a threaded moto server on 127.0.0.1 on a free port (chosen by the OS).

    Returns the server (call ``stop()`` when done) and its endpoint URL, e.g. ``http://127.0.0.1:40123``.
    """
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
