"""manage.py generate-key: a new RSA-2048 private key (PEM, PKCS8) for STRIV_ENCRYPTION_KEY(_FILE).

Printed, or with ``--output FILE`` written to a new file only its owner can read (mode 0600).
"""

import os

from django.core.management.base import BaseCommand, CommandError

from striv.core.crypto import key_generate


class Command(BaseCommand):
    help = "Print a new private key for secrets. Keep it safe: without it, secrets cannot be decrypted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", help="write the key to this new file (mode 0600) instead of printing it")

    def handle(self, *args, **options) -> None:
        key = key_generate()
        if not options["output"]:
            self.stdout.write(key, ending="")
            return
        try:
            # Created with its final mode, so the key is never readable by others, not even for a moment.
            fd = os.open(options["output"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{options['output']} exists; a key is never overwritten") from None
        with os.fdopen(fd, "w") as out:
            out.write(key)
        self.stdout.write(f"wrote a new private key to {options['output']} (mode 0600)")
