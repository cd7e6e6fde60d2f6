from tests.archivers.conftest import moto_endpoint, s3_client  # noqa: F401  (shared S3 fixtures)
