"""Secret values: format compatibility with the original striv, round trips and error messages."""

import base64
import json

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from striv.core import crypto

# A throwaway RSA-2048 key used only by these tests, with a value encrypted under it by the original algorithm
# (see original_format_encrypt below). Both are fixed so that a change to the format is caught even if encryption
# and decryption changed together.
FIXED_PRIVATE_PEM = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCYq04OEiClr3WT
2g/lpm1eNDC2+/RWKXQrLDNjJDrs94mhCa+JqM4+VxCeQq6w1iK74bFSaIlshmLp
NwYj/Str6LK7W7g6gzKIa4DOHKcrn0xMpPRfJWn9M4XkBiJDpm/v3MFNNaKmIIRh
tILshxCIr43P5ZNjlXijmx6Qr0rkbvuSo1Hu8dU6Opo7RHfTC+/uK8ZneTGRvG8B
jYKMZ9YHsLEPcUiMbApsPWloGBwCIDgnd8RwemVOTnJJmtbyhGfXgYByAome7LMm
gWOtTnY4JlrMgbE6QjU7LjO7j/bzyEWYQtVmRMJi46FhPjEwVSurjdqIt2rRZ7EW
FGoa+BB/AgMBAAECggEAEMfw9M5R9QRRSebT4oFQT4+FtJyt4clSserSMdk/T4wc
qQKAigLFEMh51NDYP4B6IZQQQqenm1yLg2j/Qstxj2iXj3foddNf+utzerRe57Dt
2RWJ9ZS45BJawD1bB3vu8pBIVcKfKzWId5jjieOFZ2Yskf0ryJbFw5ipsRZOMXJE
mSyHUAD5ywfio0Y5+cr6WIRkoHYIrydQjOZVVHi/v+pDL0kJ5c3/FUS2U4EuSZD7
Ey9rXnhWYqnp/erV4ovWL40WpmjQHYwR1JnRQOUymQ2nBGS5fTubeiRUGbZ9fRsa
qwuLSUzfB0sbYSEVHXNYV7LVNIc72Zhvuf4fuvTKcQKBgQDWKjTvIy95kQ54oH8B
FfHCF3cHXRsTlV4nWziOZZgVh8hnwSjrTneGd3g4Hmf1FM3p2IuStnP8Z9z+CfUT
FMxxErhXmdH7pzl9vsr2D7BjpVLowXxsd3o2ITvZHpCuOGhq7bZ7Wy+QveLZzuMc
X5N3bB3y0+4EaHyKeb0uBCOXZwKBgQC2fd4cOSs2bd8uRiA9xX2hsmhrJElYo7/v
fEuQTFwnD5KyXt7n/2awf7SQRZJIx48xvfu6ZVN1ydMrr+eWZm3jxBzX1kESmrEi
Tz1kjVA9ZiuQY/HJUS0oguteP5uC7tXVr4cdrroosfIaNirD79v5P4aRz6k/tzKI
vPId5zcHKQKBgQCon8jX9Ts/G4BqZ+w33aBhsvoMOTnFfJkKod9w9vr9ENExKDxg
sYKYxF5KyV4O8ReEJPUYSkIenWS6PPrS0FB8Q0IT71APNcalhGDnxsiaXKRgEWA3
QwddsWMe+9rs4gsNDifdDpnv/CKuXiAhyfshT2ZxOH6yx9YvbdUPc0DWxwKBgQCx
587qUMlRzJbws6imz6sEQbsOCFgAs9JflBrOV8LWyZXHkjlYjmH72uOaaliL3xA3
+/A17KYKhHD7fAcXVk/25a8As3zIuEnLGtjM9/6rfLknkGecTSjq/4aZYQUoBdIs
+WuNglM1bRSKfRf/4Avg1w9HgtyKovv+1cRrZob80QKBgGSiGQqaIMAo+AHhcSz8
0yFMPTR2HQ3neBFx29fKF7nab4MzgRCvWljPEWnrmshfmq4bSl186z7Xm3sbRK+f
aY8yOCzcqEzO3enY0mAHPb7oJqeCsaDuatzaQyhPLZvzXzSCM3RCfDZ7YTPM+hjh
PIxUJwPPX7fTfRqBIwN3cAZx
-----END PRIVATE KEY-----
"""
FIXED_ENCRYPTED = (
    "eyJrZXkiOiAiZUM0VkV6VUhiaElVYTBBTUNXekY2TENoRXJoMVJZNXRUSmIxN0F5NGFRcFlaZ3JZTEN4bWhwZlhQWTFsOWhGeSs2UFB5S05U"
    "YkNyNjNySkFDcjgxeWNWSEo4dG9yaDdqZFNrWllJNE1rM0NpRzh2MnNvcEkrWndjdldWcmNocHJudVZ5ek4vUUJWdFMwZ1R4Nmd5dytUR1dr"
    "K1hCZG5hMEJvU0FxaFRwbHQ3MjBMYnJFZk1mYVh0RlFUUWpZVG43ekRzbHV0Ylo1bElkcDU5bzU4Ulk2S002Q3BWaGJrV1laRnpjcTBJZXJ4"
    "Qnp3dlQwb01FbEJJYlVtajJySVorNW5xK2lKSmNSVE1ycTlJaVdTbDlocjA5ZDNScDBZMG5oeW9BTnJRTStKcEhmdktXQlRqSDhiRU1OVFQ2"
    "TlprTHE5WWczZnM1V3ZLbGdFV05YNVF2NnNBPT0iLCAicGF5bG9hZCI6ICJnQUFBQUFCckFuM3JQbzlEN2dkQnNqTmdHR0s1SkI2YWhrY0hP"
    "Q1V0dXVWbGFtRWVhalNiU3BzZ090Z1I1ajdqcGVsbnJKaTFUQlhvRjRIbDlKUGlzM3RYeW5YV0NwVEhLdz09In0="
)
FIXED_CLEARTEXT = "verrah-secret"

OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def original_format_encrypt(public_pem: str, cleartext: str, *, compact_json: bool = False) -> str:
    """Build an ``encrypted`` text step by step, the way the original striv did (compact_json: its browser UI)."""
    public_key = serialization.load_pem_public_key(public_pem.encode())
    # 1. A fresh Fernet key: 44 ASCII characters of urlsafe base64, padded.
    fernet_key = Fernet.generate_key()
    assert len(fernet_key) == 44 and fernet_key.endswith(b"=")
    # 2. The cleartext becomes a Fernet token (ASCII, urlsafe base64).
    payload = Fernet(fernet_key).encrypt(cleartext.encode("utf-8")).decode("ascii")
    # 3. The Fernet key's ASCII text itself (not the 32 bytes it encodes) is RSA-OAEP(SHA256, MGF1-SHA256) encrypted.
    wrapped_key = public_key.encrypt(fernet_key, OAEP_SHA256)
    # 4. JSON with two strings; the wrapped key and the whole JSON use standard, padded base64.
    envelope = {"key": base64.b64encode(wrapped_key).decode("ascii"), "payload": payload}
    text = json.dumps(envelope, separators=(",", ":")) if compact_json else json.dumps(envelope)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@pytest.fixture(scope="module")
def private_pem() -> str:
    return crypto.key_generate()


@pytest.fixture(scope="module")
def public_pem(private_pem: str) -> str:
    return crypto.public_key_recover(private_pem)


def test_fixed_value_from_the_original_format_decrypts():
    assert crypto.value_decrypt(FIXED_ENCRYPTED, private_pem=FIXED_PRIVATE_PEM) == FIXED_CLEARTEXT


def test_fixed_value_decrypts_as_secret_object():
    value = {"_striv_type": "secret", "encrypted": FIXED_ENCRYPTED}
    assert crypto.value_decrypt(value, private_pem=FIXED_PRIVATE_PEM) == FIXED_CLEARTEXT


@pytest.mark.parametrize("compact_json", [False, True], ids=["python-json", "browser-json"])
def test_value_built_step_by_step_in_the_original_format_decrypts(private_pem, public_pem, compact_json):
    encrypted = original_format_encrypt(public_pem, "pässword ✓", compact_json=compact_json)
    assert crypto.value_decrypt(encrypted, private_pem=private_pem) == "pässword ✓"


def test_encrypted_value_opens_step_by_step_in_the_original_format(private_pem, public_pem):
    value = crypto.value_encrypt("verrah-secret", public_pem=public_pem)
    envelope = json.loads(base64.b64decode(value["encrypted"], validate=True))
    assert set(envelope) == {"key", "payload"}
    private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    fernet_key = private_key.decrypt(base64.b64decode(envelope["key"], validate=True), OAEP_SHA256)
    assert len(fernet_key) == 44
    assert Fernet(fernet_key).decrypt(envelope["payload"].encode("ascii")) == b"verrah-secret"


def test_value_encrypt_returns_secret_object_with_standard_base64(public_pem):
    value = crypto.value_encrypt("verrah-secret", public_pem=public_pem)
    assert set(value) == {"_striv_type", "encrypted"}
    assert value["_striv_type"] == crypto.SECRET_TYPE
    assert "verrah-secret" not in value["encrypted"]
    base64.b64decode(value["encrypted"], validate=True)


@pytest.mark.parametrize("cleartext", ["verrah-secret", "", "text" * 10000, "ünïcødé\n"])
def test_round_trip_returns_cleartext(private_pem, public_pem, cleartext):
    value = crypto.value_encrypt(cleartext, public_pem=public_pem)
    assert crypto.value_decrypt(value, private_pem=private_pem) == cleartext
    assert crypto.value_decrypt(value["encrypted"], private_pem=private_pem) == cleartext


def test_each_encryption_uses_a_fresh_key(public_pem):
    first = crypto.value_encrypt("same", public_pem=public_pem)
    second = crypto.value_encrypt("same", public_pem=public_pem)
    assert first["encrypted"] != second["encrypted"]


def test_encrypted_text_wrapped_over_lines_still_decrypts(private_pem, public_pem):
    encrypted = crypto.value_encrypt("wrapped", public_pem=public_pem)["encrypted"]
    wrapped = "\n".join(encrypted[i : i + 76] for i in range(0, len(encrypted), 76))
    assert crypto.value_decrypt(wrapped, private_pem=private_pem) == "wrapped"


def test_wrong_key_raises_error_mentioning_another_key(public_pem):
    value = crypto.value_encrypt("verrah-secret", public_pem=public_pem)
    with pytest.raises(crypto.CryptoError, match="encrypted with another key"):
        crypto.value_decrypt(value, private_pem=FIXED_PRIVATE_PEM)


def test_value_from_a_larger_key_raises_error_mentioning_another_key():
    private_4096 = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    public_4096 = (
        private_4096.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    value = crypto.value_encrypt("x", public_pem=public_4096)
    with pytest.raises(crypto.CryptoError, match="encrypted with another key"):
        crypto.value_decrypt(value, private_pem=FIXED_PRIVATE_PEM)


@pytest.mark.parametrize(
    ("encrypted", "reason"),
    [
        ("not base64 at all!", "not base64"),
        ("YWJ", "not base64"),
        (base64.b64encode(b"\xff\xfe").decode(), "not JSON"),
        (base64.b64encode(b"{not json").decode(), "not JSON"),
        (base64.b64encode(b'["key", "payload"]').decode(), '"key" and "payload"'),
        (base64.b64encode(b'{"key": 1, "payload": "x"}').decode(), '"key" and "payload"'),
        (base64.b64encode(b'{"key": "%%%", "payload": "x"}').decode(), '"key" is not base64'),
    ],
)
def test_malformed_encrypted_text_raises_crypto_error(encrypted, reason):
    with pytest.raises(crypto.CryptoError, match="malformed secret value") as excinfo:
        crypto.value_decrypt(encrypted, private_pem=FIXED_PRIVATE_PEM)
    assert reason in str(excinfo.value)


def test_altered_payload_raises_crypto_error(private_pem, public_pem):
    encrypted = crypto.value_encrypt("verrah-secret", public_pem=public_pem)["encrypted"]
    envelope = json.loads(base64.b64decode(encrypted))
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    altered = base64.b64encode(json.dumps(envelope).encode()).decode()
    with pytest.raises(crypto.CryptoError, match="damaged or altered"):
        crypto.value_decrypt(altered, private_pem=private_pem)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"type": "secret", "encrypted": FIXED_ENCRYPTED}, '"_striv_type": "secret", not "type"'),
        ({"encrypted": FIXED_ENCRYPTED}, 'no "_striv_type": "secret"'),
        ({"_striv_type": "secret"}, '"encrypted" must be a string'),
        ({"_striv_type": "secret", "encrypted": 42}, '"encrypted" must be a string'),
        (42, "not int"),
    ],
)
def test_malformed_secret_object_raises_crypto_error(value, reason):
    with pytest.raises(crypto.CryptoError, match="malformed secret value") as excinfo:
        crypto.value_decrypt(value, private_pem=FIXED_PRIVATE_PEM)
    assert reason in str(excinfo.value)


def test_public_key_recovery_round_trip(private_pem):
    public_pem = crypto.public_key_recover(private_pem)
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert crypto.public_key_load(public_pem).key_size == 2048
    value = crypto.value_encrypt("verrah-secret", public_pem=public_pem)
    assert crypto.value_decrypt(value, private_pem=private_pem) == "verrah-secret"


def test_key_generate_returns_unencrypted_pkcs8_rsa_2048():
    pem = crypto.key_generate()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert crypto.private_key_load(pem).key_size == 2048


def test_parsed_keys_are_cached():
    assert crypto.private_key_load(FIXED_PRIVATE_PEM) is crypto.private_key_load(FIXED_PRIVATE_PEM)
    public_pem = crypto.public_key_recover(FIXED_PRIVATE_PEM)
    assert crypto.public_key_load(public_pem) is crypto.public_key_load(public_pem)


@pytest.mark.parametrize("pem", ["", "hello", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None])
def test_private_key_load_rejects_non_pem_text(pem):
    with pytest.raises(crypto.CryptoError, match="not a PEM private key"):
        crypto.private_key_load(pem)


def test_private_key_load_rejects_password_protected_key():
    key = serialization.load_pem_private_key(FIXED_PRIVATE_PEM.encode(), password=None)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(crypto.CryptoError, match="password protected"):
        crypto.private_key_load(pem)


def test_private_key_load_rejects_non_rsa_key():
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(crypto.CryptoError, match="not an RSA private key"):
        crypto.private_key_load(pem)


def test_public_key_load_rejects_private_key_text():
    with pytest.raises(crypto.CryptoError, match="not a PEM public key"):
        crypto.public_key_load(FIXED_PRIVATE_PEM)


def test_value_encrypt_rejects_non_string_cleartext(public_pem):
    with pytest.raises(crypto.CryptoError, match="must be a string"):
        crypto.value_encrypt(b"bytes", public_pem=public_pem)
