"""Benchmark: start-up of ``python app.py`` against a bare one-textbox Gradio Blocks app,
launched the same way (a fresh ``python`` process, same environment, same ``launch()``
defaults), alternating, in the same run. Ready = ``GET /`` answers 200 (polled every 20 ms).

    nice -n 10 .venv/bin/python bench/startup.py --runs 5

Prints both medians and the ratio app/bare (goal <= 1.15): the Gradio import alone varies
2-3.5 s between machines, so only the ratio is comparable. Also the CPU seconds each process
used until ready (from /proc): on a shared machine wall times swing, CPU time much less.
The app runs with a temporary data dir and ``WB_LLAMA_THREADS=1``; no model loads at
start-up (they load on first use), so what this measures is imports and building the UI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE = """
import os
import gradio as gr

with gr.Blocks() as demo:
    gr.Textbox(label="Text")
demo.launch(server_name="127.0.0.1", server_port=int(os.environ["WB_PORT"]))
"""


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ready_seconds(cmd: list[str], env: dict[str, str], timeout: float = 300.0) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process) until ``GET /`` answers 200."""
    from tests.helpers import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**env, "WB_PORT": str(port)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0, cpu_seconds(proc.pid)
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{cmd} not ready after {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        bare_py = Path(tmp) / "bare_app.py"
        bare_py.write_text(BARE)
        env = {**os.environ, "WB_DATA_DIR": str(Path(tmp) / "data"), "WB_LLAMA_THREADS": "1",
               "GRADIO_ANALYTICS_ENABLED": "False"}  # fmt: skip
        cmds = {"app": [sys.executable, "app.py"], "bare": [sys.executable, str(bare_py)]}
        ready_seconds(cmds["bare"], env)  # warm the OS file cache for both
        ready_seconds(cmds["app"], env)
        times: dict[str, list[float]] = {"app": [], "bare": []}
        cpus: dict[str, list[float]] = {"app": [], "bare": []}
        for i in range(args.runs):
            for name in ("app", "bare") if i % 2 == 0 else ("bare", "app"):
                wall, cpu = ready_seconds(cmds[name], env)
                times[name].append(wall)
                cpus[name].append(cpu)
                print(f"run {i + 1} {name}: {wall:.2f} s, CPU {cpu:.2f} s", flush=True)
    app, bare = statistics.median(times["app"]), statistics.median(times["bare"])
    print(f"median ready: app {app:.2f} s, bare Gradio {bare:.2f} s, ratio app/bare {app / bare:.3f}")
    ratios = [a / b for a, b in zip(times["app"], times["bare"], strict=True)]
    print(f"per-pair ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    app_cpu, bare_cpu = statistics.median(cpus["app"]), statistics.median(cpus["bare"])
    print(f"median CPU to ready: app {app_cpu:.2f} s, bare {bare_cpu:.2f} s, ratio {app_cpu / bare_cpu:.3f}")


if __name__ == "__main__":
    main()
