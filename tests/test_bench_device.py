"""bench/device.sh, the GPU check, runs anywhere at its tiny shape and reports every figure."""

import json
import math
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIELDS = ["harvest_tokens_per_s", "forward_tokens_per_s", "harvest_vs_forward", "store_tokens_per_s",
          "relu_lightning_rows_per_s", "relu_bare_rows_per_s", "relu_lightning_vs_bare",
          "topk_lightning_rows_per_s", "topk_bare_rows_per_s", "topk_lightning_vs_bare",
          "serve_p50_ms_unsteered", "serve_p50_ms_patched", "serve_p50_ratio", "seconds"]


def test_the_device_bench_runs_on_a_cpu_and_ends_in_one_json_line_with_every_field(tmp_path):
    import sys

    proc = subprocess.run(["bash", str(REPO / "bench" / "device.sh"), "--tiny", "--device", "cpu"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PY": sys.executable})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == "tiny" and result["device"] == "cpu"
    for field in FIELDS:
        assert isinstance(result[field], float | int) and math.isfinite(result[field]) and result[field] > 0, field
    # SAELens is an extra: its figures are null without it, numbers with it
    assert (result["relu_saelens_rows_per_s"] is None) == (result["relu_ours_vs_saelens"] is None)
    assert result["store_rows"] > 0 and 0 <= result["serve_feature"] < result["d_sae"]
    assert "Tip" not in proc.stderr and "Traceback" not in proc.stderr
