"""The embedded store's ``_id`` point lookup must answer exactly as a full scan would."""

from bson import ObjectId

from core.storage import connect, drop_embedded


def test_id_lookups_match_a_full_scan():
    store = connect(None, "embedded_index_test")
    try:
        col = store.collection("things")
        ids = [ObjectId() for _ in range(5)]
        col.insert_many([{"_id": oid, "n": i, "version": 1} for i, oid in enumerate(ids)])

        assert col.find_one({"_id": ids[2]})["n"] == 2
        assert col.find_one({"_id": ids[2], "version": 2}) is None  # the other conditions still apply
        assert col.find_one({"_id": ObjectId()}) is None
        found = sorted(d["n"] for d in col.find({"_id": {"$in": [ids[0], ids[4], ids[0], ObjectId()]}}))
        assert found == [0, 4]
        assert [d["n"] for d in col.find({"_id": {"$in": ids[:3]}, "n": {"$gt": 0}}).sort("n", 1)] == [1, 2]
        assert col.update_many({"_id": {"$in": ids[1:3]}}, {"$inc": {"version": 1}}).modified_count == 2
        assert col.count_documents({"version": 2}) == 2
        assert col.find_one_and_update({"_id": ids[1], "version": 1}, {"$set": {"n": 9}}) is None
        assert col.count_documents({"_id": {"$gt": ids[2]}}) == 2  # operators other than $in keep the scan
    finally:
        drop_embedded("embedded_index_test")
