"""Who did it: the user to record on a row, if any."""


def acting_user(user):
    """The user to store as actor: a logged-in user, or None for anonymous users and beat jobs."""
    return user if user is not None and getattr(user, "is_authenticated", False) else None
