"""The query language: request arguments → Mongo filter, sort, page and projection.

Every route that takes a query uses ``parse_list_query`` (list, delete over query, actions over query,
export; the writes through ``query_selection``) or ``map_filter`` (the aggregate ``match`` stage, action preconditions).
"""

from entities.query.model import ListQuery
from entities.query.parser import map_filter, parse_list_query
from entities.query.runner import count, find_page, iterate_ids, page_and_total, page_ids, sorted_by
from entities.query.selection import QuerySelection, query_selection

__all__ = ["ListQuery", "QuerySelection", "count", "find_page", "iterate_ids", "map_filter", "page_and_total",
           "page_ids", "parse_list_query", "query_selection", "sorted_by"]
