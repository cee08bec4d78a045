"""`manage.py api_token`: make, list, rotate and revoke API tokens.

    manage.py api_token create <username> [--name NAME] [--days N]   print a new key (shown once)
    manage.py api_token list [<username>]                            prefix, name, created, expires, last used
    manage.py api_token rotate <username> [--name NAME] [--days N]   revoke the user's keys, print a new one
    manage.py api_token revoke <prefix>                              revoke the key(s) starting with prefix
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from enms.models import ApiToken
from enms.tokens import api_token_create, api_token_rotate


def _when(value) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


class Command(BaseCommand):
    help = "Make, list, rotate and revoke API tokens (keys expire after API_TOKEN_TTL_DAYS)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name in ("create", "rotate"):
            p = sub.add_parser(name)
            p.add_argument("username")
            p.add_argument("--name", default="", help="what the key is for, e.g. 'meter gateway'")
            p.add_argument("--days", type=int, default=None, help="validity in days (default API_TOKEN_TTL_DAYS)")
        p = sub.add_parser("list")
        p.add_argument("username", nargs="?")
        p = sub.add_parser("revoke")
        p.add_argument("prefix")

    def _user(self, username):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None

    def handle(self, *args, action, **options):
        days = options.get("days")
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--days must lie in 1..3650.")
        if action == "create":
            token, key = api_token_create(user=self._user(options["username"]), name=options["name"], ttl_days=days)
            self.stdout.write(f"{key}\n")
            self.stderr.write(f"Token {token.prefix}… for {token.user} expires {_when(token.expires_at)}; "
                              "the key is shown only now.")
        elif action == "rotate":
            token, key, revoked = api_token_rotate(user=self._user(options["username"]), name=options["name"],
                                                   ttl_days=days)
            self.stdout.write(f"{key}\n")
            self.stderr.write(f"Revoked {revoked} token(s) of {token.user}; the new one expires "
                              f"{_when(token.expires_at)}.")
        elif action == "list":
            tokens = ApiToken.objects.select_related("user").order_by("user__username", "-created_at")
            if options["username"]:
                tokens = tokens.filter(user=self._user(options["username"]))
            now = timezone.now()
            self.stdout.write(f"{'prefix':10} {'user':16} {'name':20} {'created':20} {'expires':20} last used")
            for t in tokens:
                expires = _when(t.expires_at) + (" (expired)" if t.expires_at <= now else "")
                self.stdout.write(f"{t.prefix:10} {str(t.user)[:16]:16} {t.name[:20]:20} {_when(t.created_at):20} "
                                  f"{expires:20} {_when(t.last_used_at)}")
        else:
            prefix = options["prefix"]
            if len(prefix) < 4:
                raise CommandError("Give at least 4 characters of the key.")
            revoked, _ = ApiToken.objects.filter(prefix__startswith=prefix[:8]).delete()
            if not revoked:
                raise CommandError(f"No token starts with {prefix!r}.")
            self.stdout.write(f"Revoked {revoked} token(s).")
