"""manage.py recover-public-key: print the public half of the configured (or given) private key."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from striv.core import crypto, keys


class Command(BaseCommand):
    help = "Print the public key that encrypt-value needs, derived from the private key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--private-key-file", help="private key PEM (default: the configured encryption key)")

    def handle(self, *args, private_key_file: str | None, **options) -> None:
        try:
            private = Path(private_key_file).read_text() if private_key_file else keys.private_key_pem()
            if not private:
                raise keys.NoEncryptionKey()
            self.stdout.write(crypto.public_key_recover(private), ending="")
        except OSError as exc:
            raise CommandError(f"{private_key_file}: {exc.strerror}") from None
        except crypto.CryptoError as exc:
            raise CommandError(str(exc)) from None
