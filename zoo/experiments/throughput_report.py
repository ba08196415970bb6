"""The throughput table written out: `throughput.{parquet,csv,md}`, the markdown with the device, its peak
and the software in a header line (`zoo.experiments.throughput` measures the rows)."""

from __future__ import annotations

from pathlib import Path


MARKDOWN_COLUMNS = (("framework", "framework"), ("backend", "backend"), ("variant", "variant"), ("mode", "mode"),
                    ("loop", "loop"), ("runtime", "runtime"), ("input_size", "input"), ("batch_size", "batch"),
                    ("precision", "precision"), ("images_per_second", "images/s"), ("step_ms", "ms/step"),
                    ("latency_p99_ms", "p99 ms"), ("tflops", "TFLOP/s"), ("mfu", "MFU %"),
                    ("zoo_ratio", "zoo / this"), ("status", "status"))
#: Shown only when some row has them (latency rows).
OPTIONAL_COLUMNS = ("runtime", "latency_p99_ms")


def throughput_markdown(table) -> str:
    from zoo.markdown import format_table

    def cell(key, value):
        if value is None or (isinstance(value, float) and value != value):
            return None
        if key == "images_per_second":
            return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
        if key in ("step_ms", "tflops", "latency_p99_ms"):
            return f"{value:.2f}" if key != "tflops" or value >= 0.1 else f"{value:.3f}"
        if key == "mfu":
            return f"{100 * value:.1f}"
        if key == "zoo_ratio":
            return f"{value:.2f}x"
        return value.item() if hasattr(value, "item") else value

    if "model" in table and "variant" not in table:  # a table written before the column was renamed
        table = table.rename(columns={"model": "variant"})
    records = table.to_dict("records")
    columns = [(k, title) for k, title in MARKDOWN_COLUMNS
               if k not in OPTIONAL_COLUMNS or any(cell(k, r.get(k)) is not None for r in records)]
    rows = [{k: cell(k, r.get(k)) for k, _ in columns} for r in records]
    first = next((r for r in records if r["framework"] == "zoo" and r["status"] == "ok"), records[0])
    peak = first.get("peak_tflops")
    from zoo.runtime import cpu_has_bfloat16

    bf16_cpu = cpu_has_bfloat16(str(first.get("cpu_features") or ""))
    kind = "bfloat16" if first.get("precision") == "mixed_bfloat16" and bf16_cpu else "float32"
    header = (f"device: {first['device']}"
              + (f" (peak {1000 * peak:.0f} GFLOP/s: {kind} matrix product)" if peak and peak < 10 else "")
              + (f" [{first['cpu_features']}]" if first.get("cpu_features") else "")
              + f"; keras {first.get('keras_version')}; git {first.get('git_sha')}")
    failed = [f"- {r['framework']} ({r.get('backend')}) {r['variant']} {r['mode']}: {r['error']}" for r in records
              if r["status"] != "ok"]
    return "\n".join([header, "", format_table(rows, columns)] + (["", *failed] if failed else [])) + "\n"


def write_throughput(table, out) -> list:
    """throughput.parquet / .csv / .md in `out`, written together (zoo.files.atomic_write_all); returns the paths."""
    from zoo.files import atomic_write_all

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "throughput.parquet", out / "throughput.csv", out / "throughput.md"]
    atomic_write_all({paths[0]: lambda tmp: table.to_parquet(tmp, index=False),
                      paths[1]: lambda tmp: table.to_csv(tmp, index=False),
                      paths[2]: lambda tmp: Path(tmp).write_text(throughput_markdown(table))})
    return paths
