#!/usr/bin/python3
"""The hostile-input suite: runs every case of cases.py against the scoreflow binary.

Each case gives a command line, the exit code it must end with, words its message must hold
(and words it must not), and files that must not exist afterwards. Every case must also end
without a crash, a hang, a LibTorch stack trace or a raw library exception, and every .npy it
left behind must be finite. Usage: run_cases.py SCOREFLOW_BIN [--only SUBSTRING] [--torch-only]
"""
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CASES, make_fixtures  # noqa: E402

# What a user must never see: crashes, stack traces, and messages of libraries underneath.
FORBIDDEN = ["terminate called", "Segmentation fault", "Aborted", "Exception raised from",
             "frame #", "[json.exception", "std::bad_alloc", "what():", "Could not convert"]
TIMEOUT = 120
JOBS = 4


def run(binary, args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.run([binary] + args, capture_output=True, text=True, errors="replace",
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL, env=env)
    return p.returncode, p.stdout + p.stderr


def non_finite_npy(root):
    bad = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".npy"):
                path = os.path.join(d, f)
                try:
                    a = np.load(path)
                except Exception:  # fixtures with a bad format are the inputs themselves
                    continue
                if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                    bad.append(path)
    return bad


def check_case(binary, case, tmp):
    sub = lambda s: s.format(tmp=tmp, out=os.path.join(tmp, "out"))
    for before in case.get("before", []):
        rc, text = run(binary, sub(before).split())
        if rc != 0:
            return [f"setup command failed ({rc}): {sub(before)}\n{text}"]
    args = sub(case["args"]).split()
    try:
        rc, text = run(binary, args)
    except subprocess.TimeoutExpired:
        return [f"no answer within {TIMEOUT} s (a hang)"]
    problems = []
    if rc != case["code"]:
        problems.append(f"exit code {rc}, expected {case['code']}")
    for w in case.get("words", []):
        if w not in text:
            problems.append(f"message lacks '{w}'")
    for w in case.get("absent", []) + FORBIDDEN:
        if w in text:
            problems.append(f"message holds '{w}'")
    for f in case.get("missing", []):
        if os.path.exists(sub(f)):
            problems.append(f"{sub(f)} exists, but must not")
    for f in case.get("kept", []):
        if not os.path.exists(sub(f)):
            problems.append(f"{sub(f)} was removed, but must be kept")
    for f in non_finite_npy(os.path.join(tmp, "out")):
        problems.append(f"{f} holds NaN or Inf")
    if problems:
        problems.append("output:\n" + text.strip()[:1500])
    return problems


def run_one(binary, case):
    tmp = tempfile.mkdtemp(prefix="sf_hostile_")
    try:
        make_fixtures(tmp)
        return check_case(binary, case, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    binary = sys.argv[1]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    has_torch = " train " in run(binary, ["--help"])[1]
    # --torch-only: the optimised build runs the cases that need LibTorch; the sanitizer
    # build (part of `make test`) runs all the others, under stricter checks.
    torch_only = "--torch-only" in sys.argv
    cases = [c for c in CASES if (not only or only in c["args"]) and
             (has_torch or not c.get("torch")) and (not torch_only or c.get("torch"))]
    # Cases are independent (each has its own directory) and mostly wait on process start-up,
    # so a few run at once; the report keeps the table's order.
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        results = list(pool.map(lambda c: run_one(binary, c), cases))
    failed = []
    for case, problems in zip(cases, results):
        print(f"[{'ok' if not problems else 'FAILED'}] scoreflow {case['args']}")
        if problems:
            failed.append(case["args"])
            for p in problems:
                print("    " + p.replace("\n", "\n    "))
    print(f"{len(cases) - len(failed)} of {len(cases)} hostile-input cases passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
