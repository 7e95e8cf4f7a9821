"""enishi_local's stand-in for the Distributed Map's ItemBatcher (moto's grammar lacks it): the definition is parsed
without it and the items are grouped as AWS documents — MaxItemsPerBatch(Path), BatchInput evaluated on the state
input."""

from __future__ import annotations

import json

from enishi_local.moto_patches import _BATCHERS, _batch_items, _strip_batchers


def test_batches_by_path_with_the_batch_input():
    batcher = {"MaxItemsPerBatchPath": "$.plan.batch_size", "BatchInput": {"batch.$": "$.plan.batch", "k": 1}}
    state = {"plan": {"batch_size": 2, "batch": {"campaign_id": "x"}}}
    out = _batch_items(batcher, state, [1, 2, 3, 4, 5])
    assert [b["Items"] for b in out] == [[1, 2], [3, 4], [5]]
    assert all(b["BatchInput"] == {"batch": {"campaign_id": "x"}, "k": 1} for b in out)


def test_the_batcher_is_removed_from_nested_maps_and_remembered():
    definition = {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemBatcher": {"MaxItemsPerBatch": 3}, "End": True}},
    }
    stripped = _strip_batchers(json.loads(json.dumps(definition)))
    assert "ItemBatcher" not in json.dumps(stripped)
    assert _BATCHERS["M"] == {"MaxItemsPerBatch": 3}
    assert [b["Items"] for b in _batch_items(_BATCHERS["M"], {}, list(range(4)))] == [[0, 1, 2], [3]]
