"""manage.py decrypt-value [VALUE]: print the cleartext of a secret (the object or its encrypted text)."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from striv.core import crypto, keys


class Command(BaseCommand):
    help = "Decrypt a secret value (JSON object or bare encrypted text, from the argument or stdin) with the key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("value", nargs="?", help="secret value; omit to read stdin")

    def handle(self, *args, value: str | None, **options) -> None:
        text = (value if value is not None else sys.stdin.read()).strip()
        try:
            parsed = json.loads(text) if text.startswith("{") else text
        except json.JSONDecodeError as exc:
            raise CommandError(f"not a JSON secret value: {exc}") from None
        try:
            private = keys.private_key_pem()
            if not private:
                raise keys.NoEncryptionKey()
            self.stdout.write(crypto.value_decrypt(parsed, private_pem=private))
        except crypto.CryptoError as exc:
            raise CommandError(str(exc)) from None
