"""The query language: request arguments → Mongo filter, sort, page and projection.

Every route that takes a query uses ``parse_list_query`` (list, delete over query, actions over query,
export) or ``map_filter`` (the aggregate ``match`` stage, action preconditions).
"""

from entities.query.model import ListQuery
from entities.query.parser import map_filter, parse_list_query
from entities.query.runner import count, find_page, iterate_ids, page_and_total, page_ids

__all__ = ["ListQuery", "count", "find_page", "iterate_ids", "map_filter", "page_and_total", "page_ids",
           "parse_list_query"]
