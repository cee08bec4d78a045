"""Domain errors the API maps to HTTP status codes."""


class Conflict(Exception):
    """The request conflicts with current state (409). Extra keyword fields go into the body."""

    def __init__(self, detail: str, **fields):
        super().__init__(detail)
        self.detail = detail
        self.fields = {k: v for k, v in fields.items() if v is not None}
