"""Stage figures (ctx.metric): weighted means over every call, or the last value."""

import polars as pl

import curate
from curate.testing import run_stage


class Scored(curate.Filter):
    """Reports, per call, the share of rows whose `x` is even (weighted) and the call's size (last wins)."""

    name = "test.metrics"
    batch_size = 3  # the local executor calls it once per 3 rows

    def process_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        even = int((df["x"] % 2 == 0).sum())
        self.ctx.metric("even_rate", even / df.height, weight=df.height)
        self.ctx.metric("last_batch_rows", df.height)
        return df


class _Plugin:
    @curate.hookimpl
    def curate_register_filters(self, register):
        register(Scored)


def test_weighted_metric_is_the_mean_over_all_rows_not_the_last_call(curate_plugin):
    curate_plugin(_Plugin(), "metrics-test")
    xs = [0, 2, 4, 1, 3, 5, 7]  # calls: [0 2 4] all even, [1 3 5] none, [7] none -> 3/7 overall
    out = run_stage("test.metrics", pl.DataFrame({"id": [str(i) for i in range(7)], "x": xs}))
    metrics = out.result.stats["stage"].metrics
    assert metrics["even_rate"] == 3 / 7
    assert metrics["last_batch_rows"] == 1
