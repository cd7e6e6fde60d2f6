"""manage.py create-token USER [--role ROLE] [--create] | --revoke: issue or revoke a user's API token."""

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from striv.core import roles


class Command(BaseCommand):
    help = (
        "Issue a new API token for USER, printed once (any previous token of USER stops working), or revoke it "
        "with --revoke. Machines send it as 'Authorization: Token <key>'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="delete the user's token instead")
        parser.add_argument("--role", choices=roles.ROLES, help="also add the user to this role group")
        parser.add_argument("--create", action="store_true", help="create the user (without a password) if missing")

    @transaction.atomic
    def handle(self, *args, username: str, revoke: bool, role: str | None, create: bool, **options) -> None:
        User = get_user_model()
        user: AbstractBaseUser | None
        if create and not revoke:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()  # a machine account: token only, no login
                user.save()
        else:
            user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r} (add --create to create one)")
        if revoke:
            deleted, _ = Token.objects.filter(user=user).delete()
            self.stdout.write(f"Token of {username!r} revoked." if deleted else f"{username!r} had no token.")
            return
        if role:
            user.groups.add(Group.objects.get(name=role))
        replaced = Token.objects.filter(user=user).delete()[0]
        token = Token.objects.create(user=user)
        note = " (the previous token no longer works)" if replaced else ""
        self.stdout.write(f"Token for {username!r}{note}: {token.key}")
