"""The hostile-input table. Each case:
  args     the command line ({out}: an output path that does not exist yet; {tmp}: the case's
           directory with the fixtures of make_fixtures)
  code     the exit code it must end with (2: a refused argument, 1: a run that failed)
  words    what the message must hold (the flag, file or key, and what is valid)
  absent   what it must not hold (a hint at an option the command does not have)
  missing  files that must not exist afterwards (no partial or wrong outputs)
  kept     files that must still exist (a user's own)
  before   commands to run first (each must succeed)
  torch    needs the LibTorch commands (skipped in the sanitizer build)
"""
import os

import numpy as np

Q = "-q --no-plot --out {out}"  # a quiet sample run into {out}
SAMPLE = "sample --n 50 --steps 10 " + Q
BIG = "18446744073709551616"  # 2^64
VE_MODEL = "train --data moons --n 500 --loss nc-dsm --sde ve --steps 20 --out {tmp}/ve"


def make_fixtures(tmp):
    rng = np.random.default_rng(0)
    np.save(os.path.join(tmp, "good.npy"), rng.normal(size=(100, 2)))
    np.save(os.path.join(tmp, "zero_cols.npy"), np.zeros((200, 0)))
    np.save(os.path.join(tmp, "zero_rows.npy"), np.zeros((0, 2)))
    np.save(os.path.join(tmp, "one_d.npy"), np.zeros(50))
    bad = rng.normal(size=(50, 2))
    bad[3, 1] = np.nan
    np.save(os.path.join(tmp, "nan.npy"), bad)
    with open(os.path.join(tmp, "bad_magic.npy"), "wb") as f:
        f.write(b"NOTNUMPY" * 10)
    os.makedirs(os.path.join(tmp, "user_dir", "sub"))
    for name in ["thesis.tex", "sub/data.csv"]:
        with open(os.path.join(tmp, "user_dir", name), "w") as f:
            f.write("precious\n")
    configs = {
        "misspelled.toml": "[smaple]\nn = 10\n",
        "unclosed.toml": "[sample\nn = 10\n",
        "unknown_key.toml": "[sample]\nn = 10\nstep_sise = 0.1\n",
        "no_equals.toml": "[sample]\nn 10\n",
        "twice.toml": "[sample]\nn = 10\nn = 20\n",
        "empty_value.toml": "[sample]\nn =\n",
        "bad_value.toml": "[sample]\nn = -5\n",
        "good.toml": "[sample]\nn = 50\nsteps = 5\n",
    }
    for name, text in configs.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    with open(os.path.join(tmp, "labels.csv"), "w") as f:
        f.write("x1,x2,label\n0.5,1.0,0\n-0.2,0.3,1\n1.1,-0.4,2\n")
    with open(os.path.join(tmp, "binary.toml"), "wb") as f:
        f.write(bytes(range(256)))
    json_files = {
        "mixture_list.json": "[1, 2]",
        "mixture_broken.json": '{"means": [[0, 0]',
        "fake_model/model.json": '{"net": 3}',
        "fake_model/model.pt": "",
        "fake_run/summary.json": "{}",
    }
    for name, text in json_files.items():
        os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)


def refused(args, *words, **extra):
    return dict(args=args, code=2, words=list(words), **extra)


def failed(args, *words, **extra):
    return dict(args=args, code=1, words=list(words), **extra)


CASES = [
    # --- integer flags: negatives, overflow, non-numbers, out of range -----------------------
    refused("sample --steps -1 " + Q, "--steps", "whole number from 0 to"),
    refused("sample --steps " + BIG + " " + Q, "--steps", "whole number"),
    refused("sample --steps 1000000000000000 " + Q, "--steps", "[1, 1000000000000]"),
    refused("sample --n 0 " + Q, "--n", "at least 1", absent=["--n 0"]),
    refused("sample --n 1e3 " + Q, "--n", "whole number"),
    refused("sample --n abc " + Q, "--n", "'abc'"),
    refused("sample --seed -1 " + Q, "--seed", "whole number from 0 to 18446744073709551615"),
    refused("sample --seed 99999999999999999999999 " + Q, "--seed"),
    refused("sample --threads 100000 " + Q, "--threads", "[0, 1024]"),
    refused("sample --threads -3 " + Q, "--threads"),
    refused("sample --snapshots 99999999 " + Q, "--snapshots", "[0, 10000]"),
    refused("sample --trace-every -2 " + Q, "--trace-every"),
    refused("data moons --n -1 --out {tmp}/m.npy", "--n", missing=["{tmp}/m.npy"]),
    refused("estimate malliavin --paths 0 --out {out}", "--paths"),
    refused("estimate malliavin --steps -1 --out {out}", "--steps"),
    refused("estimate heatball --samples -5 --out {out}", "--samples"),
    refused("estimate heatball --samples 1 --out {out}", "at least 2", missing=["{out}/score.npy"]),
    refused("bench ula --threads 100000", "--threads", "[0, 1024]"),
    refused("estimate heatball --points 0 --out {out}", "--points", "at least 2"),
    refused("estimate heatball --steps 0 --out {out}", "--steps", "at least 1"),
    refused("estimate malliavin --points 1 --out {out}", "--points", "at least 2"),
    refused("sample --trajectory-every 1 --steps 100000000000 " + Q, "trajectory.npy", "GiB",
            "--trajectory-every", missing=["{out}/samples.npy"]),
    refused("experiment e3 --quick --seed -1 --out {out}", "--seed"),
    # --- real flags: NaN, Inf, negative where a default would silently step in --------------
    refused("sample --step-size nan " + Q, "--step-size", "finite"),
    refused("sample --step-size inf " + Q, "--step-size", "finite"),
    refused("sample --step-size -1 " + Q, "step_size", "positive"),
    refused("sample --sampler wfr --density kde --bandwidth -1 " + Q, "bandwidth", "0 for automatic"),
    refused("sample --sampler birth-death --bandwidth -1 " + Q, "bandwidth"),
    refused("sample --sampler wfr --ess-threshold 2 " + Q, "ess", "[0, 1]"),
    refused("estimate kde --data {tmp}/good.npy --bandwidth -1 --out {out}", "--bandwidth is -1",
            "Silverman", missing=["{out}/score.npy"]),
    refused("estimate kde --data {tmp}/good.npy --bandwidth nan --out {out}", "--bandwidth",
            "finite"),
    refused("estimate malliavin --bandwidth -1 --out {out}", "--bandwidth", "Scott"),
    refused("estimate heatball --radius -1 --out {out}", "radius"),
    refused("estimate heatball --t -1 --out {out}", "--t"),
    # --- specs: duplicated keys, invalid values, impossible sizes ---------------------------
    refused("sample --target gauss:d=2,d=3 " + Q, "'d' is given twice"),
    refused("sample --target gauss:d=2,var=-1 " + Q, "variance -1", "positive"),
    refused("sample --target gauss:d=2,var=nan " + Q, "var='nan'", "finite"),
    refused("sample --target gauss:d=200000 " + Q, "d x d covariance", "GiB"),
    refused("sample --target gaus " + Q, "gaus", "valid"),
    refused("sample --target logreg:data=german " + Q, "'german' is not known", "sonar",
            missing=["{out}/samples.npy"]),
    refused("sample --target logreg " + Q, "data=NAME", "path=FILE.csv"),
    failed("sample --target logreg:path={tmp}/labels.csv " + Q, "labels.csv", "row 3",
           "must be 0 or 1", missing=["{out}/samples.npy"]),
    refused("sample --target lgcp:grid=0 " + Q, "grid=0", "positive whole number"),
    refused("sample --target lgcp:grid=101 " + Q, "grid is 101", "[1, 100]"),
    refused("sample --target lgcp:grid=40,beta=-1 " + Q, "beta", "positive"),
    refused("sample --target lgcp:path={tmp}/labels.csv " + Q, "window=[x0,x1,y0,y1]"),
    refused("sample --sampler ais --init gauss:d=2,var=4 " + Q, "ais", "--init"),
    refused("sample --sampler ula:step_size=0.1,step_size=0.2 " + Q, "given twice"),
    refused("sample --sampler ula:step_size=0.1 --step-size 0.2 " + Q, "given twice"),
    refused("sample --n 100000000000 --target gauss:d=100 " + Q, "GB", "--n"),
    # --- initial particles --------------------------------------------------------------------
    refused("sample --init gauss:d=2 --init-file {tmp}/good.npy " + Q, "--init", "--init-file",
            "pass one"),
    refused("sample --target gauss:d=2 --init-file {tmp}/zero_rows.npy --n 1 " + Q,
            "no particles", absent=["--n 0"]),
    refused("sample --target gauss:d=2 --init-file {tmp}/nan.npy --n 50 " + Q, "nan.npy", "NaN"),
    refused("sample --target gauss:d=3 --init-file {tmp}/good.npy --n 100 " + Q, "dimension"),
    # --- divergence: caught early, nothing written --------------------------------------------
    failed("sample --target gauss:d=2 --step-size 10 --steps 200 " + Q, "blew up at step",
           "smaller --step-size", missing=["{out}/samples.npy", "{out}/summary.json"]),
    failed("sample --target gauss:d=2 --sampler annealed-ula --step-size 10 --steps 200 " + Q,
           "blew up at step", missing=["{out}/samples.npy"]),
    failed("sample --target gauss:d=2 --sampler wfr --density kde --step-size 10 --n 100 " + Q,
           "blew up at step", missing=["{out}/samples.npy"]),
    failed("sample --target gauss:d=2 --sampler wfr --step-size 10 --steps 200 " + Q,
           "blew up at step", missing=["{out}/samples.npy"]),
    # --- outputs that would be NaN/Inf are refused, nothing written ---------------------------
    failed("estimate kde --data {tmp}/good.npy --bandwidth 1e-300 --out {out}", "bandwidth",
           "nothing was written", missing=["{out}/score.npy", "{out}/log_density.npy"]),
    failed("estimate heatball --t 1e308 --out {out}", "--t", missing=["{out}/score.npy"]),
    # --- files: missing, malformed, empty, wrong shape ----------------------------------------
    failed("estimate kde --data {tmp}/missing.npy --out {out}", "missing.npy"),
    dict(args="estimate kde --data {tmp}/bad_magic.npy --out {out}", code=1,
         words=["bad_magic.npy"]),
    refused("estimate kde --data {tmp}/zero_cols.npy --out {out}", "zero_cols.npy", "non-empty"),
    refused("estimate kde --data {tmp}/one_d.npy --out {out}", "one_d.npy", "N x d"),
    refused("estimate malliavin --start {tmp}/zero_rows.npy --out {out}", "zero_rows.npy"),
    refused("plot {tmp}/no_such_run", "no_such_run"),
    failed("plot {tmp}/fake_run", "fake_run/summary.json", "not the summary"),
    failed("sample --target gmm-file:path={tmp}/mixture_list.json " + Q, "mixture_list.json",
           "expected an object"),
    failed("sample --target gmm-file:path={tmp}/mixture_broken.json " + Q, "mixture_broken.json",
           "not valid JSON"),
    failed("generate --model {tmp}/fake_model --out {out}", "model config", torch=True),
    # --- run directories: --force and --resume never touch a user's directory -----------------
    refused("sample --force --n 50 --steps 10 -q --no-plot --out {tmp}/user_dir",
            "not a scoreflow run directory", kept=["{tmp}/user_dir/thesis.tex",
                                                   "{tmp}/user_dir/sub/data.csv"]),
    refused("sample --resume --n 50 --steps 10 -q --no-plot --out {tmp}/user_dir",
            "not a scoreflow run directory", kept=["{tmp}/user_dir/thesis.tex"]),
    refused("estimate kde --data {tmp}/good.npy --force --out {tmp}/user_dir",
            "not a scoreflow run directory", kept=["{tmp}/user_dir/thesis.tex"]),
    refused("sample --resume --n 50 --steps 10 -q --no-plot --out {tmp}/nothing_here",
            "does not exist"),
    refused(SAMPLE, "--force", "--resume", before=[SAMPLE]),
    refused("estimate kde --data {tmp}/good.npy --out {out}", "--force", absent=["--resume"],
            before=["estimate kde --data {tmp}/good.npy --out {out}"]),
    refused("sample --n 50 --steps 20 --resume " + Q, "options differ", "steps", before=[SAMPLE]),
    refused("sample --n 50 --steps 10 --force --resume " + Q, "exclude each other"),
    # --- config files: refused, naming the line and key ---------------------------------------
    refused("--config {tmp}/misspelled.toml sample " + Q, "misspelled.toml:1", "[smaple]",
            "valid sections"),
    refused("--config {tmp}/unclosed.toml sample " + Q, "unclosed.toml:1", "not closed"),
    refused("--config {tmp}/unknown_key.toml sample " + Q, "unknown_key.toml:3", "step_sise",
            "valid keys"),
    refused("--config {tmp}/no_equals.toml sample " + Q, "no_equals.toml:2", "key = value"),
    refused("--config {tmp}/twice.toml sample " + Q, "twice.toml:3", "given twice"),
    refused("--config {tmp}/empty_value.toml sample " + Q, "empty_value.toml:2", "no value"),
    refused("--config {tmp}/bad_value.toml sample " + Q, "-5"),
    refused("--config {tmp}/binary.toml sample " + Q, "binary.toml", "not a text config file"),
    refused("--config {tmp}/absent.toml sample " + Q, "absent.toml"),
    dict(args="--config {tmp}/good.toml sample " + Q, code=0, words=[]),
    # --- commands and flags that do not exist -------------------------------------------------
    refused("frobnicate", "unknown command 'frobnicate'", "valid commands"),
    refused("sample --resume-from x " + Q, "--resume-from"),
    refused("estimate kde --data {tmp}/good.npy --resume --out {out}", "--resume"),
    refused("data moon --n 5 --out {tmp}/m.npy", "valid data sets"),
    refused("experiment e9 --out {out}", "e9"),
    refused("bench nosuch", "nosuch"),
    refused("demo --n 0 --out {out}", "--n", "at least 1", missing=["{out}"]),
    refused("demo --steps -1 --out {out}", "--steps", missing=["{out}"]),
    refused("demo --force --n 10 --steps 5 --out {tmp}/user_dir", "not a scoreflow run directory",
            kept=["{tmp}/user_dir/thesis.tex"]),
    refused("targets --bogus", "--bogus"),
    refused("samplers extra", "extra"),
    refused("sdes --n 3", "--n"),
    refused("estimate malliavin --sde nosuch --out {out}", "nosuch", "valid"),
    refused("estimate malliavin --x0 1,x --out {out}", "'x'"),
    refused("estimate malliavin --paths 100000000000000 --out {out}", "GiB"),
    # --- neural commands ----------------------------------------------------------------------
    dict(args="train --data {tmp}/zero_cols.npy --steps 5 --out {out}", code=1,
         words=["zero_cols.npy", "d ≥ 1"], torch=True),
    refused("train --steps -1 --out {out}", "--steps", torch=True),
    refused("train --batch 0 --steps 5 --out {out}", "batch", torch=True),
    refused("train --lr nan --out {out}", "--lr", "finite", torch=True),
    refused("train --threads 100000 --steps 5 --out {out}", "--threads", torch=True),
    refused("train --hidden 100000000,100000000 --steps 1 --out {out}", "GiB", "--hidden",
            torch=True),
    refused("train --batch 100000000000 --steps 1 --out {out}", "GiB", "--batch", torch=True),
    refused("train --n 100000000000000 --steps 1 --out {out}", "GiB", "--n", torch=True),
    refused("train --data moons --n 500 --steps 20 --lr 0.5 --resume --out {out}", "/train/lr",
            before=["train --data moons --n 500 --steps 10 --stop-after 5 --out {out}"],
            torch=True),
    failed("generate --model {tmp}/no_model --out {out}", "no_model", torch=True),
    refused("generate --model {tmp}/ve --n 0 --out {out}", "--n", torch=True,
            before=[VE_MODEL]),
    refused("generate --model {tmp}/ve --n 100000000000000 --out {out}", "GiB", "--n", torch=True,
            before=[VE_MODEL]),
    failed("generate --model {tmp}/ve --sampler ncsn --ncsn-eps 1e3 --n 200 --steps 20 --out {out}",
           "--ncsn-eps", missing=["{out}/samples.npy"], torch=True,
           before=[VE_MODEL]),
    failed("export --model {tmp}/no_model --out {tmp}/x.pt", "no_model", torch=True),
    refused("export --model {tmp}/no_model", "--out is required", torch=True),
    refused("export --model {tmp}/ve --out {tmp}/user_dir/thesis.tex", "exists", "--force",
            kept=["{tmp}/user_dir/thesis.tex"], torch=True, before=[VE_MODEL]),
    refused("export --model {tmp}/ve --force --out {tmp}/user_dir/thesis.tex",
            "not a TorchScript file", kept=["{tmp}/user_dir/thesis.tex"], torch=True,
            before=[VE_MODEL]),
    refused("malliavin-diffusion --n-train 0 --out {out}", "--n-train", "at least 1", torch=True),
    refused("malliavin-diffusion --snapshots 7 --steps 250 --out {out}", "snapshots",
            "divide", torch=True),
    refused("malliavin-diffusion --T -1 --out {out}", "horizon", "positive", torch=True),
    refused("malliavin-diffusion --hidden 0 --out {out}", "hidden", torch=True),
    failed("malliavin-diffusion --data {tmp}/missing.npy --out {out}", "missing.npy", torch=True),
    refused("malliavin-diffusion --batch 100000000000 --train-steps 1 --out {out}", "GiB",
            "--batch", torch=True),
    refused("malliavin-diffusion --n-train 100000000000000 --out {out}", "GiB", "--n-train",
            torch=True),
]
