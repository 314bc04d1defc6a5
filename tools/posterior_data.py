#!/usr/bin/python3
"""Turn the real data sets of E7 into plain CSV files.

Usage: posterior_data.py PKG_ROOT OUT_DIR

PKG_ROOT holds Debian packages unpacked with `dpkg-deb -x` (python3-sklearn,
r-cran-mlbench, r-cran-spatstat.data; none of them installed, so R is not needed);
the R data files are read with Debian's python3-rdata. Writes to OUT_DIR:
  breast-cancer.csv  569 x 30 inputs, label 1 = malignant (Wisconsin diagnostic)
  sonar.csv          208 x 60 inputs, label 1 = mine (M), 0 = rock (R)
  ionosphere.csv     351 x 33 inputs (V2 is 0 for every row and is dropped),
                     label 1 = good, 0 = bad
  finpines.csv       126 points x, y in [-5, 5] x [-8, 2] metres
  SOURCES.json       where each file came from
Each file is written to a temporary name and renamed, so a half-written file never stays.
"""
import csv
import json
import os
import sys
import warnings

SKLEARN = "usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv"
MLBENCH = "usr/lib/R/site-library/mlbench/data"
FINPINES = "usr/lib/R/site-library/spatstat.data/rawdata/finpines/finpines.txt"


def write_csv(path, header, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


def breast_cancer(root):
    with open(os.path.join(root, SKLEARN)) as f:
        n, p, *_ = next(csv.reader(f))
        rows = [[float(v) for v in r] for r in csv.reader(f)]
    n, p = int(n), int(p)
    assert len(rows) == n and all(len(r) == p + 1 for r in rows), "breast_cancer.csv shape"
    # sklearn's target is 0 = malignant, 1 = benign; the label here is 1 = malignant.
    return [f"x{j + 1}" for j in range(p)], [r[:p] + [1.0 - r[p]] for r in rows]


def mlbench(root, name, positive, drop=()):
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unknown encoding. Assumed ASCII." for factor levels
        df = rdata.conversion.convert(
            rdata.parser.parse_file(os.path.join(root, MLBENCH, name + ".rda")))[name]
    inputs = [c for c in df.columns if c != "Class" and c not in drop]
    rows = []
    for _, r in df.iterrows():
        rows.append([float(r[c]) for c in inputs] + [1.0 if r["Class"] == positive else 0.0])
    return inputs, rows


def finpines(root):
    rows = []
    with open(os.path.join(root, FINPINES)) as f:
        next(f)  # x y diameter height
        for line in f:
            if line.strip():
                x, y = line.split()[:2]
                rows.append([float(x), float(y)])
    assert len(rows) == 126, f"finpines: {len(rows)} points, expected 126"
    return ["x", "y"], rows


def main(root, out):
    os.makedirs(out, exist_ok=True)
    sets = {
        "breast-cancer": breast_cancer(root),
        "sonar": mlbench(root, "Sonar", "M"),
        "ionosphere": mlbench(root, "Ionosphere", "good", drop=("V2",)),
    }
    for name, (header, rows) in sets.items():
        write_csv(os.path.join(out, name + ".csv"), header + ["label"], rows)
        print(f"{name}: {len(rows)} x {len(header)} inputs, {sum(r[-1] for r in rows):.0f} positive")
    header, rows = finpines(root)
    write_csv(os.path.join(out, "finpines.csv"), header, rows)
    print(f"finpines: {len(rows)} points")
    sources = {
        "breast-cancer": "python3-sklearn: " + SKLEARN + " (label 1 = malignant)",
        "sonar": "r-cran-mlbench: " + MLBENCH + "/Sonar.rda (label 1 = M)",
        "ionosphere": "r-cran-mlbench: " + MLBENCH + "/Ionosphere.rda (V2 dropped: constant; "
        "label 1 = good)",
        "finpines": "r-cran-spatstat.data: " + FINPINES + " (window [-5,5] x [-8,2])",
    }
    tmp = os.path.join(out, "SOURCES.json.tmp")
    with open(tmp, "w") as f:
        json.dump(sources, f, indent=1)
    os.replace(tmp, os.path.join(out, "SOURCES.json"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
