"""Developer machine: `make run`. DEBUG stays off unless the environment turns it on."""

from .base import *  # noqa: F403
from .base import env

# A fixed key is acceptable only for the local, non-production profile.
SECRET_KEY = env("SECRET_KEY", default="local-development-key-not-for-production-use-0123456789")
