"""Model permissions for reads and writes, so staff grant API rights in the admin."""

from rest_framework.permissions import DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """Every request must be authenticated; writes need the model's add/change/delete right.

    Views whose queryset is not the model the write touches set `permission_model` and
    `permission_action` (e.g. resolving an alert is a `change` on `ModelAlert`).
    """

    authenticated_users_only = True

    def _queryset(self, view):
        model = getattr(view, "permission_model", None)
        if model is not None:
            return model._default_manager.all()
        return super()._queryset(view)

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        action = getattr(view, "permission_action", None)
        if action is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
            model = self._queryset(view).model
            perm = f"{model._meta.app_label}.{action}_{model._meta.model_name}"
            return request.user.has_perm(perm)
        if getattr(view, "_ignore_model_permissions", False):
            return True
        return super().has_permission(request, view)
