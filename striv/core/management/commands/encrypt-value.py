"""manage.py encrypt-value [VALUE]: print a secret value object for a cleartext (argument or stdin)."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from striv.core import crypto, keys


class Command(BaseCommand):
    help = (
        "Encrypt a secret so it can be kept in git. Reads the cleartext from the argument or stdin (one trailing "
        "newline is dropped). Needs only the public key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("value", nargs="?", help="cleartext; omit to read stdin")
        parser.add_argument("--public-key-file", help="public key PEM (default: derived from the configured key)")

    def handle(self, *args, value: str | None, public_key_file: str | None, **options) -> None:
        if value is None:
            value = sys.stdin.read()
            value = value[:-1] if value.endswith("\n") else value
        try:
            public = Path(public_key_file).read_text() if public_key_file else keys.public_key_pem()
            secret = crypto.value_encrypt(value, public_pem=public)
        except OSError as exc:
            raise CommandError(f"{public_key_file}: {exc.strerror}") from None
        except crypto.CryptoError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(secret))
