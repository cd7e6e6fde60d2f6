"""manage.py generate-key: print a new RSA-2048 private key (PEM, PKCS8) for STRIV_ENCRYPTION_KEY."""

from django.core.management.base import BaseCommand

from striv.core.crypto import key_generate


class Command(BaseCommand):
    help = "Print a new private key for secrets. Keep it safe: without it, secrets cannot be decrypted."

    def handle(self, *args, **options) -> None:
        self.stdout.write(key_generate(), ending="")
