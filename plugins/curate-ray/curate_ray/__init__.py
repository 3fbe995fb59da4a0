"""curate-ray: run any recipe on a Ray cluster.

``curate run recipe.yaml --executor ray [--ray-address auto|ray://host:10001]`` or
``curate.run(recipe, executor="ray")``. Engine-free row stages run as tasks over pieces of the
previous stage's checkpoint (:mod:`curate_ray.parts`), engine-bearing stages on a fixed pool of
actors that each start their engine once (Ray Data ``map_batches``), and whole-dataset stages
(deduplication) are distributed by shuffles instead of gathered.
"""

import curate


@curate.hookimpl
def curate_register_executors(register):
    from curate_ray.executor import RayExecutor

    register(RayExecutor)
