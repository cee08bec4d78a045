"""Model permissions for reads and writes, so staff grant API rights in the admin."""

from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """Every request must be authenticated; reads need the model's `view` right, writes its
    add/change/delete right (a superuser holds them all).

    Views whose queryset is not the model the request touches set `permission_model`, and a
    command that is not the method's default right sets `permission_action` (resolving an alert is
    a `change` on `ModelAlert`; a prediction, a POST that writes nothing, is a `view` on baselines).
    OPTIONS only describes the endpoint and needs no model right.
    """

    authenticated_users_only = True
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }

    def _queryset(self, view):
        model = getattr(view, "permission_model", None)
        if model is not None:
            return model._default_manager.all()
        return super()._queryset(view)

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        action = getattr(view, "permission_action", None)
        if action is not None and request.method not in SAFE_METHODS:
            model = self._queryset(view).model
            perm = f"{model._meta.app_label}.{action}_{model._meta.model_name}"
            return request.user.has_perm(perm)
        if getattr(view, "_ignore_model_permissions", False):
            return True
        return super().has_permission(request, view)
