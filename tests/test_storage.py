"""curate.storage: local paths and fsspec URIs (s3:// against a local S3-compatible server)."""

import gzip
from pathlib import Path

import pytest

from curate import storage
from curate.errors import UserInputError


def test_resolve_keeps_uris_and_anchors_relative_paths(tmp_path):
    assert storage.resolve(tmp_path, "s3://b/x.jsonl") == "s3://b/x.jsonl"
    assert storage.resolve(tmp_path, "s3://b/out/") == "s3://b/out/"
    assert storage.resolve(tmp_path, "data/x.jsonl") == tmp_path / "data" / "x.jsonl"
    assert storage.resolve(tmp_path, "file:///abs/x.jsonl") == Path("/abs/x.jsonl")
    assert storage.is_uri("gs://b/x") and not storage.is_uri("file:///x") and not storage.is_uri("/x")


def test_expand_globs_and_folders_in_name_order(tmp_path):
    for name in ["b.jsonl", "a.jsonl", "c.txt", ".hidden.jsonl"]:
        (tmp_path / name).write_text("{}\n")
    assert [p.name for p in storage.expand(tmp_path / "*.jsonl")] == ["a.jsonl", "b.jsonl"]
    assert [p.name for p in storage.expand(tmp_path, (".jsonl",))] == ["a.jsonl", "b.jsonl"]
    assert storage.expand(tmp_path / "a.jsonl") == [tmp_path / "a.jsonl"]


def test_local_write_is_whole_and_identity_changes_with_content(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    storage.write_text(target, "one")
    before = storage.identity(target)
    storage.write_text(target, "three")
    assert target.read_text() == "three" and storage.identity(target) != before
    assert list(target.parent.iterdir()) == [target]  # no temporary file left


def test_compressed_input_is_decompressed(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n'))
    with storage.open_read(path) as f:
        assert f.read() == b'{"a": 1}\n'


def test_unknown_scheme_says_which_package_to_install():
    with pytest.raises(UserInputError, match="no filesystem for 'nosuchfs'|nosuchfs"):
        storage.exists("nosuchfs://bucket/key")


def test_s3_round_trip(object_store):
    uri = object_store.url("dir/f.jsonl")
    assert not storage.exists(uri)
    storage.write_text(uri, '{"a": 1}\n')
    assert storage.exists(uri) and object_store.get("dir/f.jsonl") == b'{"a": 1}\n'
    with storage.open_read(uri) as f:
        assert f.read() == b'{"a": 1}\n'
    first = storage.identity(uri)
    storage.write_text(uri, '{"a": 2}\n')
    assert storage.identity(uri) != first  # the ETag changed
    storage.write_text(object_store.url("dir/g.jsonl"), "{}\n")
    assert storage.expand(object_store.url("dir/*.jsonl")) == [object_store.url("dir/f.jsonl"),
                                                             object_store.url("dir/g.jsonl")]
    assert storage.expand(object_store.url("dir/")) == storage.expand(object_store.url("dir"))
    storage.remove(object_store.url("dir"))
    assert object_store.keys("dir/") == []
