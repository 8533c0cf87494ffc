"""An owner of a catalog on an S3 root whose directory is missing on the node that hosts it now (its data
lived on another node's disk) refuses to start instead of opening an empty store that would hide every
key it held. Against moto's S3 server; the owner's body is run in this process (the actor wraps it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.catalog_meta import ensure_meta, slots_of_ids
from catalog.errors import OwnerDiskLostError
from catalog.keys import canonical_key, key_id
from catalog.location import Location
from catalog.owner_actor import OwnerServer


def test_owner_refuses_a_fresh_directory_after_it_held_data(s3_bucket: str, tmp_path: Path) -> None:
    root = f"s3://{s3_bucket}/hb"
    meta = ensure_meta(root, 2)
    first = OwnerServer(root, str(tmp_path / "node-a"), 0)
    slots = meta.slot_owner()
    keys = [k for k in (canonical_key(f"https://example.com/{i}") for i in range(400))
            if slots[slots_of_ids(np.frombuffer(key_id(k), np.uint8).reshape(1, 16))[0]] == 0][:5]
    assert keys
    first.call("register", [(k, Location(1, 10 * i, 10, i + 1).pack()) for i, k in enumerate(keys)], meta.epoch)
    first.store.close()
    # the same node again: its directory is there, and so is every key
    again = OwnerServer(root, str(tmp_path / "node-a"), 0)
    assert again.call("stats")["records"] == len(keys)
    again.store.close()
    # another node's empty disk: refused, naming the owner, the directory and what to do
    with pytest.raises(OwnerDiskLostError, match=r"owner 0 .*node-b.*rebuild"):
        OwnerServer(root, str(tmp_path / "node-b"), 0)
    assert not (tmp_path / "node-b" / "owner-0000").exists()
    # an owner that never held data starts anywhere
    OwnerServer(root, str(tmp_path / "node-b"), 1).store.close()
