"""Server-rendered dashboard pages (`/ui/...`)."""

urlpatterns: list = []
