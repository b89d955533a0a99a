"""The sample records and response shapes of the REST reference (seed 002), and checks built on them."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.conftest import Api, create  # noqa: F401  (tests import it from here)
from tests.conftest import wait_for_job as wait_job_until

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")

# The fields of the sample "fetches one company record" (GET /data/companies/{id}), in that order.
RECORD_KEYS = ["id", "version", "label", "name", "state", "type", "numberOfEmployees", "isCustomer",
               "contactInformation", "addresses", "homepage", "taxId", "rating", "notes", "lastMeeting",
               "lastUpdate"]
CONTACT_INFORMATION_KEYS = {"id", "label", "phoneNumber", "email"}
ADDRESS_KEYS = {"id", "label", "addressLine", "zipCode", "city", "state"}
JOB_LINK_KEYS = {"jobLink", "jobId"}
JOB_KEYS = {"id", "label", "type", "runBy", "parentJob", "rootJob", "createDate", "startDate", "endDate", "status",
            "hasErrors", "progress", "recordsCount", "recordsProcessed", "childrenJobsCount",
            "childrenJobsProcessed", "stoppable", "lowPriority", "data", "results"}
HISTORY_KEYS = {"id", "entityId", "entityName", "entityVersion", "recordId", "recordName", "user", "timestamp", "ip",
                "eventType", "eventCategory", "contextPath", "recordDeleted", "deletionDate", "oldRecord",
                "newRecord"}
LOGIN_KEYS = ["app", "adminUserEmail", "ip", "userEmail", "userName", "userId", "token"]
ERROR_KEYS = {"code", "message", "errors"}

BROWSEZOOM: dict[str, Any] = {
    "name": "Browsezoom", "state": "pending", "type": "a", "numberOfEmployees": 95, "isCustomer": False,
    "contactInformation": {"phoneNumber": "1-702-845-9380", "email": "jwoodsrq@spotify.com"},
    "addresses": [{"addressLine": "4 Magdeline Place", "zipCode": "89145", "city": "Las Vegas", "state": "NV"}],
    "homepage": "http://www.browsezoom.com", "taxId": "350-KWM", "rating": "2.8", "notes": "modified notes",
    "lastMeeting": 1429623180000,
}
BLOGPAD: dict[str, Any] = {
    "name": "Blogpad", "state": "pending", "type": "b", "numberOfEmployees": 534, "isCustomer": False,
    "contactInformation": {"phoneNumber": "1-405-298-5885", "email": "molsonre@rakuten.co.jp"},
    "addresses": [{"addressLine": "4 Crownhardt Plaza", "zipCode": "73157", "city": "Oklahoma City", "state": "OK"}],
    "homepage": "http://www.blogpad.com", "taxId": "123-ABC", "rating": "3.3",
    "notes": "Aenean fermentum. Donec ut mauris eget massa tempor convallis. Nulla neque libero, convallis eget, "
             "eleifend luctus, ultricies eu, nibh.",
    "lastMeeting": 1422111300000,
}
# The body of the sample "creates a new company".
TEST_1: dict[str, Any] = {**copy.deepcopy(BROWSEZOOM), "name": "Test 1", "notes": "test notes"}


def body(sample: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(sample)
    out.update(changes)
    return out



def assert_company(record: dict[str, Any], sample: dict[str, Any]) -> None:
    """``record`` has exactly the keys of the reference's company record and the values of ``sample``."""
    assert list(record) == RECORD_KEYS
    assert OBJECT_ID.match(record["id"]) and isinstance(record["version"], int)
    assert record["label"] == sample["name"]
    assert isinstance(record["lastUpdate"], int) and record["lastUpdate"] > 1_400_000_000_000
    for key, value in sample.items():
        if key == "contactInformation":
            group = record[key]
            assert set(group) == CONTACT_INFORMATION_KEYS and OBJECT_ID.match(group["id"])
            assert group["label"] == "Contact Information"
            assert {k: group[k] for k in value} == value
        elif key == "addresses":
            assert len(record[key]) == len(value)
            for item, expected in zip(record[key], value, strict=True):
                assert set(item) == ADDRESS_KEYS and OBJECT_ID.match(item["id"])
                assert item["label"] == f"{expected['state']} - {expected['zipCode']}"
                assert {k: item[k] for k in expected} == expected
        else:
            assert record[key] == value, key


def assert_error(response: Any, status: int) -> dict[str, Any]:
    """The one error shape: ``{code, message, errors}`` with a readable message."""
    assert response.status_code == status, response.get_json()
    payload = response.get_json()
    assert set(payload) >= ERROR_KEYS and isinstance(payload["message"], str) and payload["message"]
    assert isinstance(payload["errors"], list)
    return payload


def assert_job_link(response: Any) -> str:
    assert response.status_code == 200, response.get_json()
    link = response.get_json()
    assert set(link) == JOB_LINK_KEYS and OBJECT_ID.match(link["jobId"])
    assert link["jobLink"] == f"/api/status/jobs/{link['jobId']}"
    return link["jobId"]


def wait_for_job(api: Api, job_id: str, statuses: tuple[str, ...] = ("FINISHED",), timeout: float = 30) -> dict:
    return wait_job_until(api, job_id, statuses, timeout)
