"""``ObjectStoreServer``: a local S3-compatible server (moto's), for testing readers, writers and
runs against ``s3://`` URIs offline.

It sets the standard AWS variables (``AWS_ENDPOINT_URL``, dummy keys, region) in this process's
environment while it runs, so s3fs (and anything else reading them: processes started meanwhile,
such as a local Ray cluster's workers) reaches it with no code change, and it restores them on
exit. Needs ``moto[server]`` and ``s3fs`` (``pip install 'curate-llm[dev]'``)::

    with ObjectStoreServer() as store:
        store.put("in/prompts.jsonl", b'{"prompt": "hi"}\\n')
        curate.run(recipe_reading(store.url("in/prompts.jsonl")))
        assert store.get("out/sft.jsonl")
"""

from __future__ import annotations

import os
from typing import Any

#: what the server sets; dummy credentials: nothing real ever reaches it
ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


class ObjectStoreServer:
    """An S3 API on ``127.0.0.1`` (a free port) with one bucket, ``bucket``."""

    def __init__(self, bucket: str = "curate-test"):
        self.bucket = bucket
        self.endpoint = ""
        self._server: Any = None
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> "ObjectStoreServer":
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "curate-test",
                    "AWS_SECRET_ACCESS_KEY": "curate-test", "AWS_DEFAULT_REGION": "us-east-1"}
        self._saved = {k: os.environ.get(k) for k in ENV_KEYS}
        os.environ.update(self.env)
        self.client().create_bucket(Bucket=self.bucket)
        self._clear_fs_cache()
        return self

    def __exit__(self, *exc: Any) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._clear_fs_cache()
        if self._server is not None:
            self._server.stop()

    @staticmethod
    def _clear_fs_cache() -> None:
        # fsspec caches filesystem instances with their endpoint: a new server needs a new one
        try:
            import s3fs

            s3fs.S3FileSystem.clear_instance_cache()
        except ImportError:  # pragma: no cover
            pass

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="curate-test", aws_secret_access_key="curate-test")

    def url(self, key: str = "") -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes | str) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data.encode() if isinstance(data, str) else data)

    def get(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
