#!/usr/bin/env python3
"""Fails on an include that points up the layer order, or from the library into an application.

The library's layers, lowest first, are LAYERS; a file in one of them may include its own
layer and those below. The library (include/scoreflow, src) includes no application (app/,
experiments/) and no CLI11; experiments include no CLI. Run: check_layers.py [REPO_ROOT].
"""
import pathlib
import re
import sys

LAYERS = ["core", "targets", "sde", "score", "diagnostics", "malliavin", "neural", "samplers",
          "plot", "runs"]
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def layer_of(path: pathlib.Path, root: pathlib.Path):
    parts = path.relative_to(root).parts
    if parts[:2] == ("include", "scoreflow") and len(parts) > 3:
        return parts[2]
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    return None


def violations(root: pathlib.Path):
    for path in sorted(root.glob("**/*.[ch]pp")):
        rel = path.relative_to(root)
        if rel.parts[0] not in ("include", "src", "experiments", "app"):
            continue
        layer = layer_of(path, root)
        if rel.parts[0] in ("include", "src") and layer not in RANK:
            yield f"{rel}: not in a known layer ({', '.join(LAYERS)})"
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            where = f"{rel}:{n}: includes {inc}"
            if layer is not None:
                if inc.startswith(("cli/", "experiments/", "CLI/")):
                    yield f"{where}: the library may not include an application or CLI11"
                elif inc.startswith("scoreflow/"):
                    target = inc.split("/")[1]
                    if target not in RANK:
                        yield f"{where}: unknown layer '{target}'"
                    elif RANK[target] > RANK[layer]:
                        yield f"{where}: '{layer}' is below '{target}'"
                elif "/" in inc and inc.split("/")[0] in RANK:
                    yield f"{where}: use <scoreflow/{inc}>"
            elif rel.parts[0] == "experiments" and inc.startswith(("cli/", "CLI/")):
                yield f"{where}: experiments may not include the command line"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    found = list(violations(root))
    for v in found:
        print(v)
    if not found:
        print("layering holds:", " < ".join(LAYERS))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
