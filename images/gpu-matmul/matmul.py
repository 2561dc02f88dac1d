"""Dense GEMM throughput on one CUDA GPU with PyTorch.

Prints one JSON line per dtype on stdout, e.g. {"fp16_tflops": 612.3, "fp16_ms_per_matmul": 1.79},
timed with CUDA events after a warm-up. Exit 2 when no CUDA device is visible.
"""

import json
import os
import sys

import torch


def bench(dtype: torch.dtype, n: int, iters: int) -> tuple[float, float]:
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(5):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        torch.matmul(a, b)
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / iters
    return 2.0 * n ** 3 / (ms / 1e3) / 1e12, ms


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu-matmul: no CUDA device visible; run the container with a GPU", file=sys.stderr)
        return 2
    n = int(os.environ.get("MATMUL_N", "8192"))
    iters = int(os.environ.get("MATMUL_ITERS", "50"))
    print(f"gpu-matmul on {torch.cuda.get_device_name(0)}, torch {torch.__version__}, n={n}", file=sys.stderr)
    for name, dtype in (("fp16", torch.float16), ("fp32", torch.float32)):
        tflops, ms = bench(dtype, n, iters)
        print(json.dumps({f"{name}_tflops": round(tflops, 2), f"{name}_ms_per_matmul": round(ms, 4)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
