"""Joining or starting a Ray cluster, and checking that its nodes can run the recipe's plugins."""

from __future__ import annotations

import logging
import os
from typing import Any

import curate

log = logging.getLogger("curate.ray")

#: Ray's object store defaults to 30% of RAM; next to vLLM on a small box that starves the models.
DEFAULT_OBJECT_STORE_FRACTION = 0.15
MAX_DEFAULT_OBJECT_STORE = 4 * 1024**3


def default_object_store_bytes() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - not POSIX
        total = 8 * 1024**3
    return int(min(MAX_DEFAULT_OBJECT_STORE, max(256 * 1024**2, total * DEFAULT_OBJECT_STORE_FRACTION)))


def connect(address: str | None, num_cpus: int | None, object_store_memory: int | None) -> bool:
    """Make sure this process is connected to a Ray cluster. Returns True when this call started
    (and so must stop) a local cluster; joining an existing one (``address``, or a connection this
    process already has) is never stopped by curate."""
    import ray

    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        try:
            ray.init(address=address, **quiet)
        except Exception as exc:  # noqa: BLE001 - ray raises many types for a bad address
            raise curate.UserInputError(
                f"cannot join the Ray cluster at {address!r}: {exc}",
                hint="start one with `ray start --head` (then --ray-address auto), or leave --ray-address out to "
                     "start a local cluster for the run") from None
        return False
    ray.init(num_cpus=num_cpus, object_store_memory=object_store_memory or default_object_store_bytes(), **quiet)
    return True


def plugin_inventory() -> dict[str, Any]:
    """What this process can run: every registered name, and the node it runs on."""
    import ray

    reg = curate.plugin_registry()
    return {"node": ray.util.get_node_ip_address(), "names": reg.names(), "failed": dict(reg.failed)}


def check_nodes(needed: dict[str, str]) -> None:
    """Fail clearly when a node of the cluster lacks a plugin the run needs.

    ``needed`` maps a component or engine name to the plugin (distribution) that gives it on the
    driver. One task is pinned to every alive node; each reports what it can load."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(plugin_inventory)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
            for n in nodes]
    problems = []
    for node, found in zip(nodes, ray.get(refs)):
        missing = sorted(name for name in needed if name not in found["names"])
        for name in missing:
            problems.append(f"node {found['node']} ({node['NodeID'][:8]}) has no {name!r} "
                            f"(plugin {needed[name]!r} is not installed there)")
    if problems:
        raise curate.PluginError(
            "the Ray cluster cannot run this recipe: " + "; ".join(problems)
            + " — install the same plugins on every node (e.g. in the image, or a runtime_env with pip)")
