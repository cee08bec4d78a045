import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination as _PageNumberPagination


class PageNumberPagination(_PageNumberPagination):
    """`?page=` (from 1) and `?page_size=` (1 to 1000; larger asks get 1000).

    A page size that is not a positive integer is a 400 rather than silently the default, and a
    page past the end is DRF's 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 1000
    last_page_strings = ()

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not re.fullmatch(r"-?[0-9]+", raw):
            raise ValidationError({self.page_size_query_param: ["A valid integer is required."]})
        size = int(raw)
        if size < 1:
            raise ValidationError({self.page_size_query_param: ["Ensure this value is greater than or equal to 1."]})
        return min(size, self.max_page_size)

    def get_page_number(self, request, paginator):
        # DRF reads an empty `?page=` as page 1; here it is an invalid page like any other non-number.
        return request.query_params.get(self.page_query_param, 1)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Number of results per page, at most {self.max_page_size}."
        return parameters
