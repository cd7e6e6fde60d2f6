"""Test-run defaults that must be in place before Django's settings are imported."""

import os

os.environ.setdefault("STRIV_SECRET_KEY", "striv-test-secret-key")
os.environ.setdefault("STRIV_VAR_DIR", os.path.join(os.path.dirname(__file__), "var", "test"))
