"""Developer machine: `make run`. DEBUG stays off unless the environment turns it on."""

from .base import *  # noqa: F403
from .base import env

# A fixed key is acceptable only for the local, non-production profile.
SECRET_KEY = env("SECRET_KEY", default="local-development-key-not-for-production-use-0123456789")

# The browsable API helps while developing; production and tests answer JSON only.
REST_FRAMEWORK = {  # noqa: F405
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
