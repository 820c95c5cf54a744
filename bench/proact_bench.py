"""Benchmark of the PRO-ACT importer at PRO-ACT scale: time and peak memory.

Target: importing a PRO-ACT export of 10,000 patients (~400,000 ALSFRS rows, ~1,000,000 lab rows) takes under
30 s and under 2 GB peak resident memory for the whole ``alsstrat cohort --source proact`` (import, validation,
cohort assembly and writing the cohort and its report).

Each measurement runs in a fresh process (``spawn``), so its time includes importing the libraries and its peak
resident memory (``resource.getrusage``, the process high-water mark) is its own, not the generator's. Wall time
depends on what else the machine runs; the CPU time (all threads of the process) is printed beside it as the
load-independent figure:

1. generate the export with :func:`bench.make_proact.make_proact_export` (skipped with ``--input``);
2. :func:`features.sources.proact.load.load_proact` alone;
3. the CLI command ``alsstrat cohort --source proact`` end to end.

Run ``python -m bench.proact_bench`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 30.0
TARGET_PEAK_MB = 2048.0


def _peak_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _generate(folder: str, n_patients: int, seed: int, out: Any) -> None:
    from bench.make_proact import make_proact_export

    out.put(make_proact_export(folder, n_patients=n_patients, seed=seed))


def _time_load(folder: str, out: Any) -> None:
    start = time.perf_counter()
    from features.sources.proact.load import load_proact

    imported = time.perf_counter()
    cpu = time.process_time()
    tables, report = load_proact(folder)
    done = time.perf_counter()
    out.put(
        {
            "seconds": done - imported,
            "cpu_seconds": time.process_time() - cpu,
            "import_seconds": imported - start,
            "peak_mb": _peak_mb(),
            "rows": {name: len(frame) for name, frame in tables.items()},
            "excluded": len(report.excluded),
        }
    )


def _time_cli(folder: str, target: str, out: Any) -> None:
    start = time.perf_counter()
    from training.cli.app import app

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the command's summary table is not the benchmark's output
            app(["cohort", "--source", "proact", "--input", folder, "--out", target], standalone_mode=False)
        code = 0
    except SystemExit as exc:  # typer raises Exit -> SystemExit for non-zero codes
        code = int(exc.code or 0)
    out.put(
        {
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time(),
            "peak_mb": _peak_mb(),
            "exit": code,
        }
    )


def _run(target: Any, *args: Any) -> Any:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"{target.__name__} failed with exit code {proc.exitcode}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) a PRO-ACT-scale export, time the import and the CLI, print the figures.

    Returns
    -------
    int
        0 when both the time and the memory target are met, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description="Time and peak memory of the PRO-ACT importer at scale.")
    parser.add_argument("--input", type=Path, help="An existing export folder (default: generate one).")
    parser.add_argument("--n-patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="Generate into this folder and keep it (default: a temp folder).")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="proact_bench_") as tmp:
        folder = args.input or args.keep or Path(tmp) / "export"
        if args.input is None:
            start = time.perf_counter()
            written = _run(_generate, str(folder), args.n_patients, args.seed)
            sizes = ", ".join(f"{name} {rows:,}" for name, rows in written.items())
            print(f"generated {folder} in {time.perf_counter() - start:.1f} s: {sizes}")

        load = _run(_time_load, str(folder))
        rows = ", ".join(f"{name} {n:,}" for name, n in load["rows"].items())
        print(
            f"load_proact: {load['seconds']:.1f} s wall, {load['cpu_seconds']:.1f} s CPU "
            f"(+ {load['import_seconds']:.1f} s imports), "
            f"peak RSS {load['peak_mb']:.0f} MB; {rows}; {load['excluded']:,} excluded records"
        )

        cli = _run(_time_cli, str(folder), str(Path(tmp) / "cohort.parquet"))
        print(
            f"alsstrat cohort --source proact (whole command, imports included): {cli['seconds']:.1f} s wall, "
            f"{cli['cpu_seconds']:.1f} s CPU, "
            f"peak RSS {cli['peak_mb']:.0f} MB, exit {cli['exit']}"
        )

    ok = cli["exit"] == 0 and cli["seconds"] < TARGET_SECONDS and cli["peak_mb"] < TARGET_PEAK_MB
    print(f"target < {TARGET_SECONDS:.0f} s and < {TARGET_PEAK_MB:.0f} MB: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
