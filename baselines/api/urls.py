from rest_framework.routers import DefaultRouter

from .views import BaselineViewSet, MachineViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("machines", MachineViewSet, basename="machine")
router.register("baselines", BaselineViewSet, basename="baseline")

urlpatterns = router.urls
