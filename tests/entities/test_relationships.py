"""Relationships: filtering by id or label, copied fields (read, filter, sort, project, aggregate), delete policies,
label and copied-field cascades."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, create, wait_for_job

FIRMS = {"name": "firms", "recordLabel": "#{name}", "history": True,
         "fields": [{"name": "name", "type": "text", "required": True},
                    {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b"]}},
                    {"name": "size", "type": "integer"}]}


def people(**rules: Any) -> dict[str, Any]:
    rel = {"entity": "firms", "copiedFields": ["kind", "size"], **rules}
    return {"name": "people", "recordLabel": "#{name}", "history": True,
            "fields": [{"name": "name", "type": "text", "required": True},
                       {"name": "firm", "type": "relationship", "typeRules": rel},
                       {"name": "firms", "type": "relationship", "multiplicity": "many",
                        "typeRules": {"entity": "firms", **{k: v for k, v in rules.items() if k == "onDelete"}}}]}


def setup(api: Api, **rules: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    assert api.put("/metadata/entities/firms", json=FIRMS).status_code == 200
    assert api.put("/metadata/entities/people", json=people(**rules)).status_code == 200
    riff = create(api, "firms", {"name": "Riffwire", "kind": "a", "size": 10})
    oak = create(api, "firms", {"name": "Oakbank", "kind": "b", "size": 3})
    return riff, oak


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return sorted(i["name"] for i in response.get_json()["items"])


def test_bare_relationship_filter_takes_an_id_or_a_label(api: Api):
    riff, oak = setup(api)
    create(api, "people", {"name": "Ana", "firm": riff["id"]})
    create(api, "people", {"name": "Bo", "firm": "Oakbank", "firms": [riff["id"], oak["id"]]})
    assert names(api.get(f"/data/people?firm={riff['id']}")) == ["Ana"]
    assert names(api.get("/data/people?firm=Riffwire")) == ["Ana"]
    assert names(api.get(f"/data/people?firm=notEquals({riff['id']})")) == ["Bo"]
    assert names(api.get(f"/data/people?firms={riff['id']}")) == ["Bo"]
    assert names(api.get("/data/people?firm=Nobody")) == []


def test_copied_fields_are_stored_read_filtered_sorted_projected_and_aggregated(api: Api):
    riff, _ = setup(api)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    create(api, "people", {"name": "Bo", "firm": {"label": "Oakbank"}})
    assert ana["firm"] == {"id": riff["id"], "label": "Riffwire", "kind": "a", "size": 10}
    assert api.get(f"/data/people/{ana['id']}").get_json()["firm"]["kind"] == "a"
    assert names(api.get("/data/people?firm.kind=a")) == ["Ana"]
    assert names(api.get("/data/people?firm.size=greater(5)")) == ["Ana"]
    listed = api.get("/data/people?_sortField=firm.size&_sortType=asc").get_json()["items"]
    assert [i["name"] for i in listed] == ["Bo", "Ana"]
    projected = api.get("/data/people?_fields=firm.kind&_sortField=firm.size&_sortType=desc").get_json()["items"]
    assert projected[0] == {"id": ana["id"], "version": 0, "label": "Ana",
                            "firm": {"id": riff["id"], "label": "Riffwire", "kind": "a"}}
    agg = api.put("/data/people/aggregate", json=[{"group": {"by": "firm.kind", "n": "count()"}},
                                                   {"sort": {"firm.kind": "asc"}}])
    assert agg.status_code == 200, agg.get_json()
    assert [(r["firm.kind"], r["n"]) for r in agg.get_json()["items"]] == [("a", 1), ("b", 1)]
    bad = api.get("/data/people?firm.nope=1")
    assert bad.status_code == 400 and "firm.kind" in bad.get_json()["message"]


def test_copied_fields_must_exist_in_the_target(api: Api):
    api.put("/metadata/entities/firms", json=FIRMS)
    body = people()
    body["fields"][1]["typeRules"]["copiedFields"] = ["ghost"]
    response = api.put("/metadata/entities/people", json=body)
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "firm.typeRules.copiedFields"
    body["fields"][1]["typeRules"] = {"entity": "firms", "onDelete": "explode"}
    assert api.put("/metadata/entities/people", json=body).get_json()["errors"][0]["field"] == \
        "fields[1].typeRules.onDelete"


def cascade_jobs(api: Api) -> list[dict[str, Any]]:
    return api.get("/status/jobs?type=CASCADE_UPDATE").get_json()["items"]


def test_label_and_copied_field_changes_cascade_in_a_job(api: Api):
    riff, _ = setup(api)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"], "firms": [riff["id"], "Oakbank"]})
    changed = api.put(f"/data/firms/{riff['id']}", json={"name": "Riffwire Labs", "kind": "b"})
    assert changed.status_code == 200
    for job in cascade_jobs(api):
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    assert len(cascade_jobs(api)) == 2  # one per referencing relationship field
    after = api.get(f"/data/people/{ana['id']}").get_json()
    assert after["firm"] == {"id": riff["id"], "label": "Riffwire Labs", "kind": "b", "size": 10}
    assert [f["label"] for f in after["firms"]] == ["Riffwire Labs", "Oakbank"]
    assert names(api.get("/data/people?firm.label=Riffwire Labs")) == ["Ana"]
    assert names(api.get("/data/people?firm.kind=b")) == ["Ana"]
    history = api.get(f"/data/people/{ana['id']}/history").get_json()["items"]
    assert "SYSTEM_CASCADE_UPDATE" in [h["eventType"] for h in history]
    # a change of neither the label nor a copied field starts no job
    api.put(f"/data/firms/{riff['id']}", json={"name": "Riffwire Labs", "kind": "b"})
    assert len(cascade_jobs(api)) == 2


def test_update_policies_off_keep_the_stored_copy(api: Api):
    riff, _ = setup(api, updateLabel=False, updateCopiedFields=False)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    api.put(f"/data/firms/{riff['id']}", json={"name": "Renamed", "kind": "b"})
    for job in cascade_jobs(api):  # the multi-valued field keeps the default policies
        wait_for_job(api, job["id"])
    assert api.get(f"/data/people/{ana['id']}").get_json()["firm"]["label"] == "Riffwire"


def test_label_cascade_through_many_records(api: Api):
    riff, _ = setup(api)
    svc = api.client.application.extensions["runtime"]
    people = svc.registry.get("people")
    from core.context import WriteContext
    for i in range(2000):
        svc.records.create(people, {"name": f"P{i}", "firm": riff["id"]}, WriteContext(user_email="seed"))
    assert api.put(f"/data/firms/{riff['id']}", json={"name": "Renamed"}).status_code == 200
    job = wait_for_job(api, cascade_jobs(api)[0]["id"], timeout=120)
    assert job["status"] == "FINISHED" and job["recordsProcessed"] == 2000
    assert api.get("/data/people?firm.label=Renamed&_size=0").get_json()["total"] == 2000


def test_on_delete_none_leaves_a_dangling_link_that_only_a_save_sending_it_refuses(api: Api):
    """§3.4: policy ``none`` leaves the link dangling, and saving the record with it fails validation; an update
    that does not send the field still succeeds, and clearing or changing the link fixes it."""
    riff, oak = setup(api)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"], "firms": [riff["id"], oak["id"]]})
    assert api.delete(f"/data/firms/{riff['id']}").status_code == 200
    stored = api.get(f"/data/people/{ana['id']}").get_json()
    assert stored["firm"]["id"] == riff["id"] and [f["id"] for f in stored["firms"]] == [riff["id"], oak["id"]]
    untouched = api.put(f"/data/people/{ana['id']}", json={"name": "Ana B"})
    assert untouched.status_code == 200, untouched.get_json()
    assert untouched.get_json()["firm"]["id"] == riff["id"] and untouched.get_json()["name"] == "Ana B"
    full_save = {k: v for k, v in untouched.get_json().items() if k not in ("id", "label")}
    for body, field in (({"firm": riff["id"]}, "firm"), ({"firm": {"id": riff["id"]}}, "firm"),
                        ({"firms": [riff["id"], oak["id"]]}, "firms"), (full_save, "firm")):
        refused = api.put(f"/data/people/{ana['id']}", json=body)
        assert refused.status_code == 400, body
        errors = [(e["field"], e["code"], e["additionalInfo"]) for e in refused.get_json()["errors"]]
        assert (field, "invalid", {"rejectedValue": riff["id"]}) in errors
    assert api.get(f"/data/people/{ana['id']}").get_json()["version"] == 1
    fixed = api.put(f"/data/people/{ana['id']}", json={"firm": oak["id"], "firms": [oak["id"]]})
    assert fixed.status_code == 200 and fixed.get_json()["firm"]["id"] == oak["id"]
    bea = create(api, "people", {"name": "Bea", "firm": oak["id"]})
    assert api.delete(f"/data/firms/{oak['id']}").status_code == 200
    cleared = api.put(f"/data/people/{bea['id']}", json={"name": "Bea C", "firm": None})
    assert cleared.status_code == 200 and cleared.get_json()["firm"] is None


def test_on_delete_remove_relationship(api: Api):
    riff, oak = setup(api, onDelete="removeRelationship")
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"], "firms": [riff["id"], oak["id"]]})
    assert api.delete(f"/data/firms/{riff['id']}").status_code == 200
    after = api.get(f"/data/people/{ana['id']}").get_json()
    assert after["firm"] is None and [f["id"] for f in after["firms"]] == [oak["id"]]


def test_on_delete_delete_record_cascades_recursively_and_stops_at_cycles(api: Api):
    nodes = {"name": "nodes", "recordLabel": "#{name}", "fields": [
        {"name": "name", "type": "text"},
        {"name": "parent", "type": "relationship", "typeRules": {"entity": "nodes", "onDelete": "deleteRecord"}}]}
    assert api.put("/metadata/entities/nodes", json=nodes).status_code == 200
    a = create(api, "nodes", {"name": "a"})
    b = create(api, "nodes", {"name": "b", "parent": a["id"]})
    c = create(api, "nodes", {"name": "c", "parent": b["id"]})
    other = create(api, "nodes", {"name": "other"})
    assert api.put(f"/data/nodes/{a['id']}", json={"parent": c["id"]}).status_code == 200  # a cycle a→c→b→a
    assert api.delete(f"/data/nodes/{b['id']}").status_code == 200
    assert names(api.get("/data/nodes")) == ["other"]
    assert api.get(f"/data/nodes/{other['id']}").status_code == 200


def test_adding_copied_fields_fills_them_in_stored_values(api: Api):
    riff, _ = setup(api)
    body = people()
    body["fields"][1]["typeRules"]["copiedFields"] = []
    api.put("/metadata/entities/people", json=body)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    assert ana["firm"] == {"id": riff["id"], "label": "Riffwire"}
    changed = api.put("/metadata/entities/people", json=people())
    assert changed.status_code == 200
    refactoring = changed.get_json()["refactoring"]  # the job that refreshes the links, to follow
    assert [c["kind"] for c in refactoring["changes"]] == ["copiedFields"]
    assert [j["jobId"] for j in refactoring["jobs"]] == [refactoring["jobId"]] == [j["id"] for j in cascade_jobs(api)]
    assert wait_for_job(api, refactoring["jobId"])["status"] == "FINISHED"
    assert api.get(f"/data/people/{ana['id']}").get_json()["firm"] == {
        "id": riff["id"], "label": "Riffwire", "kind": "a", "size": 10}
    assert names(api.get("/data/people?firm.kind=a")) == ["Ana"]


def test_a_dry_run_plans_copied_field_changes_and_always_lists_duplicates(api: Api):
    riff, oak = setup(api)
    for name, firm in (("Ana", riff), ("Bo", oak), ("Cy", None)):
        create(api, "people", {"name": name, "firm": firm and firm["id"]})
    fewer = people()
    fewer["fields"][1]["typeRules"]["copiedFields"] = ["kind"]
    dry = api.put("/metadata/entities/people?_dryRun=true", json=fewer)
    assert dry.status_code == 200, dry.get_json()
    plan = dry.get_json()
    assert plan["duplicates"] == [] and plan["conversionErrors"] == [] and plan["conversionErrorsCount"] == 0
    assert [(c["kind"], c["field"], c["recordsAffected"]) for c in plan["changes"]] == [("copiedFields", "firm", 2)]
    assert "CASCADE_UPDATE" in plan["changes"][0]["description"] and cascade_jobs(api) == []
    assert api.get("/data/people?firm.size=10").get_json()["total"] == 1  # nothing changed
    for body in (people(), {**FIRMS, "name": "newFirms"}):  # unchanged; a new entity
        answer = api.put(f"/metadata/entities/{body['name']}?_dryRun=true", json=body).get_json()
        assert answer == {"dryRun": True, "changes": [], "conversionErrors": [], "conversionErrorsCount": 0,
                          "duplicates": []}
    renamed = people()
    renamed["fields"][0]["type"] = "email"  # a conversion planned beside the copied-field change
    renamed["fields"][1]["typeRules"]["copiedFields"] = []
    plan = api.put("/metadata/entities/people?_dryRun=true", json=renamed).get_json()
    assert [(c["kind"], c["field"], c["recordsAffected"]) for c in plan["changes"]] == [
        ("convert", "name", 3), ("copiedFields", "firm", 2)]
    assert plan["duplicates"] == [] and plan["conversionErrorsCount"] == 3
    assert api.put("/metadata/entities/people", json=fewer).status_code == 200
    (job,) = cascade_jobs(api)
    assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    assert api.get("/data/people?name=Ana").get_json()["items"][0]["firm"] == {
        "id": riff["id"], "label": "Riffwire", "kind": "a"}


def test_nested_relationships_follow_labels_and_deletes(api: Api):
    riff, oak = setup(api)
    teams = {"name": "teams", "recordLabel": "#{name}", "fields": [
        {"name": "name", "type": "text"},
        {"name": "members", "type": "nestedFields", "multiplicity": "many", "nestedFields": [
            {"name": "role", "type": "text"},
            {"name": "firm", "type": "relationship",
             "typeRules": {"entity": "firms", "onDelete": "removeRelationship"}}]}]}
    assert api.put("/metadata/entities/teams", json=teams).status_code == 200
    team = create(api, "teams", {"name": "T", "members": [{"role": "x", "firm": riff["id"]},
                                                          {"role": "y", "firm": oak["id"]}]})
    api.put(f"/data/firms/{riff['id']}", json={"name": "Riff 2"})
    for job in cascade_jobs(api):
        wait_for_job(api, job["id"])
    members = api.get(f"/data/teams/{team['id']}").get_json()["members"]
    assert [m["firm"]["label"] for m in members] == ["Riff 2", "Oakbank"]
    assert api.delete(f"/data/firms/{oak['id']}").status_code == 200
    members = api.get(f"/data/teams/{team['id']}").get_json()["members"]
    assert [m.get("firm") and m["firm"]["label"] for m in members] == ["Riff 2", None]


def refactor(api: Api, name: str, body: dict[str, Any]) -> None:
    """Change a definition and wait for its REFACTORING job and the cascades it started."""
    response = api.put(f"/metadata/entities/{name}", json=body)
    assert response.status_code == 200, response.get_json()
    assert wait_for_job(api, response.get_json()["refactoring"]["jobId"])["status"] == "FINISHED"
    for job in cascade_jobs(api):
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"


def test_a_changed_record_label_is_pushed_to_referencing_records(api: Api):
    """§4.1: a new record label template recomputes the labels and the copies of them in relationships that point
    at those records: one CASCADE_UPDATE job per referencing field, not one per changed record."""
    riff, oak = setup(api)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"], "firms": [riff["id"], oak["id"]]})
    bo = create(api, "people", {"name": "Bo", "firm": oak["id"]})
    refactor(api, "firms", {**FIRMS, "recordLabel": "#{name} (#{kind})"})
    assert len(cascade_jobs(api)) == 2
    after = api.get(f"/data/people/{ana['id']}").get_json()
    assert after["firm"] == {"id": riff["id"], "label": "Riffwire (a)", "kind": "a", "size": 10}
    assert [f["label"] for f in after["firms"]] == ["Riffwire (a)", "Oakbank (b)"]
    assert api.get(f"/data/people/{bo['id']}").get_json()["firm"]["label"] == "Oakbank (b)"
    assert names(api.get("/data/people?firm.label=Oakbank (b)")) == ["Bo"]
    history = api.get(f"/data/people/{bo['id']}/history").get_json()["items"]
    assert "SYSTEM_CASCADE_UPDATE" in [h["eventType"] for h in history]


def test_labels_and_copies_changed_by_a_field_conversion_are_pushed_to_referencing_records(api: Api):
    """The label template stays, but a field it uses is converted (a choice shown by its label becomes text),
    and a copied field changes type: the stored copies follow. A refactoring that changes neither starts no job."""
    firms = {**FIRMS, "recordLabel": "#{name} (#{kind})", "fields": [
        FIRMS["fields"][0], {"name": "kind", "type": "choice", "typeRules": {"possibleValues": [
            {"name": "a", "label": "Agency"}, {"name": "b", "label": "Bank"}]}}, FIRMS["fields"][2]]}
    assert api.put("/metadata/entities/firms", json=firms).status_code == 200
    assert api.put("/metadata/entities/people", json=people()).status_code == 200
    riff = create(api, "firms", {"name": "Riffwire", "kind": "a", "size": 10})
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    assert ana["firm"]["label"] == "Riffwire (Agency)"
    firms = api.get("/metadata/entities/firms").get_json()
    firms["fields"].append({"name": "note", "type": "text"})
    firms["fields"][1]["type"] = "text"  # kind: "a" now shows as "a"
    firms["fields"][2]["type"] = "text"  # size: 10 becomes "10", a copied field
    refactor(api, "firms", firms)
    assert api.get(f"/data/firms/{riff['id']}").get_json()["label"] == "Riffwire (a)"
    assert api.get(f"/data/people/{ana['id']}").get_json()["firm"] == {
        "id": riff["id"], "label": "Riffwire (a)", "kind": "a", "size": "10"}
    jobs = len(cascade_jobs(api))
    firms = api.get("/metadata/entities/firms").get_json()
    firms["fields"][3]["type"] = "longText"  # neither a label nor a copy changes
    refactor(api, "firms", firms)
    assert len(cascade_jobs(api)) == jobs


def _settle(api: Api) -> None:
    """Wait until every cascade job, those the cascades start included, has ended."""
    seen: set[str] = set()
    while True:
        jobs = api.get("/status/jobs?type=CASCADE_UPDATE&_size=1000").get_json()["items"]
        fresh = [j for j in jobs if j["id"] not in seen]
        if not fresh:
            return
        for job in fresh:
            assert wait_for_job(api, job["id"])["status"] == "FINISHED"
            seen.add(job["id"])


def test_labels_and_calculated_values_over_a_link_follow_it_down_a_chain(api: Api):
    """C → B → A: B's label and calculated value are made of its link to C, and A copies them. A change of C
    reaches B's link, then B's label and calculated value, then A's copies; a removed link does the same."""
    assert api.put("/metadata/entities/rc", json={"name": "rc", "fields": [
        {"name": "name", "type": "text"}, {"name": "kind", "type": "text"}]}).status_code == 200
    assert api.put("/metadata/entities/rb", json={"name": "rb", "recordLabel": "#{name} @ #{c.label}", "fields": [
        {"name": "name", "type": "text"},
        {"name": "c", "type": "relationship",
         "typeRules": {"entity": "rc", "copiedFields": ["kind"], "onDelete": "removeRelationship"}},
        {"name": "ckind", "type": "text", "calculated": "K:#{c.kind}"}]}).status_code == 200
    assert api.put("/metadata/entities/ra", json={"name": "ra", "fields": [
        {"name": "name", "type": "text"},
        {"name": "b", "type": "relationship", "typeRules": {"entity": "rb", "copiedFields": ["ckind"]}}]}
    ).status_code == 200
    c = create(api, "rc", {"name": "C1", "kind": "k1"})
    b = create(api, "rb", {"name": "B1", "c": c["id"]})
    a = create(api, "ra", {"name": "A1", "b": b["id"]})
    assert (b["label"], b["ckind"]) == ("B1 @ C1", "K:k1")
    assert api.put(f"/data/rc/{c['id']}", json={"name": "C2", "kind": "k2"}).status_code == 200
    _settle(api)
    after = api.get(f"/data/rb/{b['id']}").get_json()
    assert (after["label"], after["ckind"]) == ("B1 @ C2", "K:k2")
    assert api.get(f"/data/ra/{a['id']}").get_json()["b"] == {"id": b["id"], "label": "B1 @ C2", "ckind": "K:k2"}
    assert api.delete(f"/data/rc/{c['id']}").status_code == 200
    _settle(api)
    after = api.get(f"/data/rb/{b['id']}").get_json()
    assert after["c"] is None and (after["label"], after["ckind"]) == ("B1 @ ", "K:")
    assert api.get(f"/data/ra/{a['id']}").get_json()["b"]["label"] == "B1 @ "


def test_a_field_other_entities_copy_or_look_up_by_cannot_be_renamed_or_removed_under_them(api: Api):
    """Renaming or removing a field of the related entity that a relationship copies (or finds records by)
    would leave its copies empty and its lookups failing: a 400 naming the relationship, nothing changed."""
    setup(api, lookupField="size")
    firms = api.get("/metadata/entities/firms").get_json()
    before = firms["version"]
    renamed = {**firms, "fields": [{**f, "name": "category", "renamedFrom": "kind"} if f["name"] == "kind" else f
                                   for f in firms["fields"]]}
    removed = {**firms, "fields": [f for f in firms["fields"] if f["name"] != "size"]}
    for body, name in ((renamed, "kind"), (removed, "size")):
        response = api.put("/metadata/entities/firms", json=body)
        assert response.status_code == 400, response.get_json()
        messages = [e["message"] for e in response.get_json()["errors"]]
        assert any(f"'{name}'" in m and "people.firm.typeRules" in m for m in messages), messages
    assert api.get("/metadata/entities/firms").get_json()["version"] == before
    ok = {**firms, "fields": [*firms["fields"], {"name": "extra", "type": "text"}]}
    assert api.put("/metadata/entities/firms", json=ok).status_code == 200  # other changes go through
    assert api.put("/metadata/entities/people", json=people(copiedFields=["size"])).status_code == 200
    assert api.put("/metadata/entities/firms", json=renamed).status_code == 200  # kind is no longer copied


def _pending_deletes(app: Any) -> Any:
    """The clock task that finishes delete policies left behind (``entities.refactoring.pending_deletes``)."""
    tasks = app.extensions["runtime"].plugins.clock_tasks
    return next(t.__self__ for t in tasks if type(getattr(t, "__self__", None)).__name__ == "PendingDeletes")


def test_delete_policies_cut_short_are_finished_by_a_job(app: Any, api: Api, monkeypatch: Any):
    """A delete whose policies did not all run (the process died, or a cascaded write failed) leaves a marker;
    once it is stale the clock queues a CASCADE_DELETE job that applies them, and the marker goes."""
    import time

    from entities.refactoring import cascade, pending_deletes
    riff, oak = setup(api, onDelete="removeRelationship")
    people_ids = [create(api, "people", {"name": n, "firm": riff["id"], "firms": [riff["id"], oak["id"]]})["id"]
                  for n in ("Ana", "Bo", "Cy")]
    applied = []
    real = cascade._apply_policy

    def dies_after_one(*args: Any) -> None:
        if applied:
            raise RuntimeError("the process died here")
        applied.append(args)
        real(*args)
    monkeypatch.setattr(cascade, "_apply_policy", dies_after_one)
    assert api.delete(f"/data/firms/{riff['id']}").status_code == 200  # the record is gone; its policies are not done
    monkeypatch.undo()
    firms_of = {i["name"]: i["firm"] for i in api.get("/data/people?_size=10").get_json()["items"]}
    assert sum(1 for firm in firms_of.values() if firm is None) == 1
    markers = app.extensions["runtime"].store.collection(pending_deletes.PENDING_DELETES)
    assert markers.count_documents({}) == 1
    pending = _pending_deletes(app)
    assert pending.tick(int(time.time() * 1000)) == 0  # not stale yet: a request may still be at it
    assert pending.tick(int(time.time() * 1000) + pending_deletes.STALE_MS + 1) == 1
    job = wait_for_job(api, api.get("/status/jobs?type=CASCADE_DELETE").get_json()["items"][0]["id"])
    assert job["status"] == "FINISHED"
    assert job["results"]["response"] == {"recordsUpdated": 5, "recordsDeleted": 0}  # 2 firm + 3 firms unlinked
    for rid in people_ids:
        after = api.get(f"/data/people/{rid}").get_json()
        assert after["firm"] is None and [f["id"] for f in after["firms"]] == [oak["id"]]
    assert markers.count_documents({}) == 0


def test_a_delete_with_more_referencing_records_than_a_request_handles_finishes_in_a_job(api: Api, monkeypatch: Any):
    from entities.refactoring import cascade
    monkeypatch.setattr(cascade, "INLINE_LIMIT", 3)
    riff, _ = setup(api, onDelete="deleteRecord")
    for i in range(5):
        create(api, "people", {"name": f"p{i}", "firm": riff["id"]})
    keep = create(api, "people", {"name": "keep"})
    assert api.delete(f"/data/firms/{riff['id']}").status_code == 200  # answered without waiting for the 5
    jobs = api.get("/status/jobs?type=CASCADE_DELETE").get_json()["items"]
    assert len(jobs) == 1
    job = wait_for_job(api, jobs[0]["id"])
    assert job["status"] == "FINISHED" and job["results"]["response"] == {"recordsUpdated": 0, "recordsDeleted": 5}
    assert names(api.get("/data/people")) == ["keep"] and keep["name"] == "keep"
    small = create(api, "firms", {"name": "Small"})
    create(api, "people", {"name": "s", "firm": small["id"]})
    assert api.delete(f"/data/firms/{small['id']}").status_code == 200  # within the limit: done in the request
    assert names(api.get("/data/people")) == ["keep"]
    assert len(api.get("/status/jobs?type=CASCADE_DELETE").get_json()["items"]) == 1


def test_a_marker_of_a_record_that_was_not_deleted_changes_nothing(app: Any, api: Api):
    import time

    from entities.refactoring import pending_deletes
    riff, _ = setup(api, onDelete="deleteRecord")
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    markers = app.extensions["runtime"].store.collection(pending_deletes.PENDING_DELETES)
    markers.insert_one({"_id": f"firms:{riff['id']}", "entity": "firms", "recordId": riff["id"], "createdAt": 0,
                        "user": {}, "jobId": None})  # as a delete that lost its race leaves it
    assert _pending_deletes(app).tick(int(time.time() * 1000)) == 1
    job = api.get("/status/jobs?type=CASCADE_DELETE").get_json()["items"][0]
    assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    assert api.get(f"/data/people/{ana['id']}").status_code == 200 and markers.count_documents({}) == 0


def test_delete_policies_that_keep_failing_are_tried_a_few_times_a_minute_apart(app: Any, api: Api,
                                                                                 monkeypatch: Any):
    import time

    from entities.refactoring import cascade, pending_deletes

    def fails(*args: Any) -> None:
        raise RuntimeError("this referencing record cannot be written")
    riff, _ = setup(api, onDelete="removeRelationship")
    create(api, "people", {"name": "Ana", "firm": riff["id"]})
    monkeypatch.setattr(cascade, "_apply_policy", fails)
    assert api.delete(f"/data/firms/{riff['id']}").status_code == 200
    pending = _pending_deletes(app)
    later = int(time.time() * 1000) + pending_deletes.STALE_MS + 1
    tries = []
    for _ in range(pending_deletes.MAX_JOBS + 2):
        queued = pending.tick(later)
        assert pending.tick(int(time.time() * 1000)) == 0  # the next try waits a minute after this one
        tries.append(queued)
        for job in api.get("/status/jobs?type=CASCADE_DELETE&_size=100").get_json()["items"]:
            assert wait_for_job(api, job["id"])["hasErrors"] is True
        later += pending_deletes.STALE_MS + 1
    assert tries == [1] * pending_deletes.MAX_JOBS + [0, 0]


def test_a_cascade_entry_keeps_the_ip_of_the_write_that_started_it(api: Api):
    """README (Jobs): a job's writes have the history of the request that started it — its user, the developer
    impersonating them, the client ip. The cascade job's user came as the id's text and was not recognized."""
    riff, _ = setup(api)
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    assert api.put(f"/data/firms/{riff['id']}", json={"name": "Riffwire Labs"},
                   environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    for job in cascade_jobs(api):
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    entry = next(h for h in api.get(f"/data/people/{ana['id']}/history").get_json()["items"]
                 if h["eventType"] == "SYSTEM_CASCADE_UPDATE")
    assert entry["ip"] == "10.1.2.3" and entry["user"] == "admin@example.com"


def test_a_job_submitted_for_the_caller_keeps_the_impersonator_and_ip_whatever_form_its_id_has(app):
    from bson import ObjectId
    from flask import g

    from jobs.service import submitted_from

    user_id = ObjectId()
    with app.test_request_context("/api/data/firms", environ_base={"REMOTE_ADDR": "10.9.8.7"}):
        g.user, g.admin_user = {"_id": user_id, "email": "ann@example.com"}, {"email": "dev@example.com"}
        for given in (user_id, str(user_id)):
            assert submitted_from({"_id": given, "email": "ann@example.com"}, None) == ("dev@example.com", "10.9.8.7")
        assert submitted_from({"_id": str(ObjectId()), "email": "bo@example.com"}, None) == (None, None)


def test_history_events_turn_system_cascade_entries_off_too(api: Api):
    """Facts §4.1: system events (cascade updates, refactorings) are history flags as user events are: an entity
    whose ``history.events`` leaves SYSTEM_CASCADE_UPDATE out records none, while its label still follows."""
    riff, _ = setup(api)
    quiet = {**people(), "history": {"events": ["USER_RECORD_CREATED", "USER_RECORD_CHANGED"]}}
    assert api.put("/metadata/entities/people", json=quiet).status_code == 200
    ana = create(api, "people", {"name": "Ana", "firm": riff["id"]})
    assert api.put(f"/data/firms/{riff['id']}", json={"name": "Riffwire Labs"}).status_code == 200
    for job in cascade_jobs(api):
        assert wait_for_job(api, job["id"])["status"] == "FINISHED"
    assert api.get(f"/data/people/{ana['id']}").get_json()["firm"]["label"] == "Riffwire Labs"
    history = api.get(f"/data/people/{ana['id']}/history").get_json()["items"]
    assert [h["eventType"] for h in history] == ["USER_RECORD_CREATED"]
