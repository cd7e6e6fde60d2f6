"""The secret value format: one definition of what a secret is."""

import pytest

from striv import secret
from striv.core import crypto


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"_striv_type": "secret", "encrypted": "abc"}, True),
        ({"_striv_type": "secret"}, True),
        # Marked but broken objects are secrets too, so that they are refused instead of passing as plain data.
        ({"_striv_type": "other", "encrypted": "abc"}, True),
        ({"type": "secret", "encrypted": "abc"}, False),
        ("secret", False),
        (None, False),
        (["_striv_type", "secret"], False),
    ],
)
def test_is_secret_recognises_only_the_striv_type_marker(value, expected):
    assert secret.is_secret(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"_striv_type": "secret", "encrypted": "abc"}, True),
        ({"_striv_type": "secret"}, False),
        ({"_striv_type": "other", "encrypted": "abc"}, False),
        ({"_striv_type": "secret", "encrypted": "abc", "extra": 1}, False),
        ({"_striv_type": "secret", "encrypted": 1}, False),
    ],
)
def test_is_well_formed_accepts_exactly_the_secret_object(value, expected):
    assert secret.is_well_formed(value) is expected


def test_make_builds_the_object_decrypt_reads(private_key):
    value = crypto.value_encrypt("x", public_pem=crypto.public_key_recover(private_key))
    assert value == secret.make(value["encrypted"])
    assert crypto.value_decrypt(secret.make(secret.ciphertext(value)), private_pem=private_key) == "x"


def test_decrypt_refuses_a_marked_object_of_another_type(private_key):
    with pytest.raises(crypto.CryptoError, match='"_striv_type" must be "secret"'):
        crypto.value_decrypt({"_striv_type": "other", "encrypted": "abc"}, private_pem=private_key)
