"""Write the reproduction pages' quick-run results: ``python docs/reproductions/generate.py [NAME ...]``.

For each experiment of ``nanograd-ad list`` (or each NAME given) this runs
``nanograd-ad reproduce NAME --quick`` in a subprocess with one BLAS thread and writes, under
``docs/reproductions/NAME/``, what the page ``docs/reproductions/NAME.md`` includes (pymdownx
snippets):

    run.md       what was run: the command, runs × epochs, the date, the commit, the wall time
    table.md     the printed report, header included (it says how the quick protocol is shorter)
    figures.md   the run's PNG plots as images with alt text (CAPTIONS)
    *.png        the plots, re-saved as palette PNGs to keep the repository small

The site build only reads these committed files; it never runs an experiment. An experiment
that fails is reported (and its previous files are kept, their date and commit unchanged);
the others are still written; the exit code is 1 if any failed.

ad-cifar needs CIFAR-100: found via ``$NANOGRAD_AD_DATA`` or ``data/`` it is used; otherwise
the run is on a **synthetic** data set in the official format (random pixels, labels cycling
through the 100 classes — nothing to learn), and the page says so.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "reproductions"
TIMEOUT_S = 1800
ONE_THREAD = dict.fromkeys(
    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"), "1"
)
#: synthetic CIFAR-100 stand-in: as many images as ad-cifar's --quick uses (200 train, 100 test)
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 200, 100

#: alt text of each plot, by file name; a plot not listed gets one made from its name (and a note)
CAPTIONS = {
    "ad-relu_set_A.png": "Table 2, set A (quick run): how many runs end in each interval of lowest "
    "test loss, per depth, for AD ReLU, ReLU and Leaky ReLU",
    "ad-relu_set_B.png": "Table 2, set B (quick run): how many runs end in each interval of lowest "
    "test loss, per depth, for AD ReLU, ReLU and Leaky ReLU",
    "ad-sigmoid_set_A.png": "Table 4, set A (quick run): how many runs end in each interval of lowest "
    "test loss, per depth, for AD sigmoid, sigmoid and Isigmoid",
    "ad-sigmoid_set_B.png": "Table 4, set B (quick run): how many runs end in each interval of lowest "
    "test loss, per depth, for AD sigmoid, sigmoid and Isigmoid",
    "digits_ad_curves.png": "Test accuracy and test loss by epoch (mean over the seeds) for "
    "ReLU, AD ReLU, AD ReLU with switching and Leaky ReLU",
    "pn_depth_delta_init.png": "RMS of the error δ by layer at initialization, plain backprop against "
    "single- and two-path pseudo-normalization, one panel per depth",
    "pn_depth_delta_train_lr0.01.png": "RMS of the error δ by layer averaged over training (learning "
    "rate 0.01), plain backprop against single- and two-path pseudo-normalization, one panel per depth",
    "pn_cnn_accuracy.png": "Test accuracy by epoch of the CNN, plain backprop against two-path "
    "pseudo-normalization, and its accuracy under Gaussian and uniform input noise of each level",
    "pn_cnn_delta.png": "RMS of the error δ by layer of the CNN at initialization and over training, "
    "plain backprop against two-path pseudo-normalization",
    "pn_cnn_contribution.png": "Contribution maps |g ⊙ x| (gradient × input) of a few test digits for "
    "the two-path pseudo-normalized CNN, beside the inputs and binarized at the paper's threshold 0.3",
    "ad_cifar_accuracy.png": "Test accuracy by epoch of each arm (ReLU or sigmoid against its AD "
    "derivative) — on synthetic data, so at chance",
    "amplify_thresholds.png": "Best test accuracy against the amplification threshold for the measures "
    "G and G', cases 1 and 2, with the original and the random-layer runs as horizontal lines",
    "amplify_measures.png": "The normalized measure G of each weight layer at each analysis, with the "
    "threshold dotted; the layers above it, in red, are amplified",
    "ics_accuracy.png": "Training and test accuracy by epoch of sigmoid, ReLU and the regularized ReLU; "
    "a star marks each model's peak test accuracy",
    "ics_activation_scale.png": "Mean absolute activation of each layer (0: the scaled input), at "
    "initialization and at the end of training, for sigmoid, ReLU and the regularized ReLU",
    "baselines_delta_init.png": "RMS of the error δ by layer at initialization: plain backprop, two-path "
    "pseudo-normalization, batch norm and residual blocks, one panel per depth",
    "baselines_delta_train.png": "RMS of the error δ by layer over training: plain backprop, two-path "
    "pseudo-normalization, batch norm and residual blocks, one panel per depth",
}


def experiment_names() -> list[str]:
    """The names ``nanograd-ad list`` shows, in its order."""
    from nanograd_ad.experiments import names

    return list(names())


def cifar100_folder() -> Path | None:
    """The folder holding ``cifar-100-python/`` where the library would look, or None."""
    from nanograd_ad.datasets import default_data_dir

    folder = default_data_dir()
    return folder if (folder / "cifar-100-python" / "train").is_file() else None


def write_synthetic_cifar100(folder: Path, train: int, test: int, seed: int = 0) -> None:
    """The official CIFAR-100 python pickles' layout and keys, with random pixels (uint8, 3072
    per image) and fine labels cycling 0..99 (coarse 0..19): ``folder/cifar-100-python/{train,test}``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    (folder / "cifar-100-python").mkdir(parents=True)
    for name, count in (("train", train), ("test", test)):
        batch = {
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            b"fine_labels": [i % 100 for i in range(count)],
            b"coarse_labels": [i % 20 for i in range(count)],
        }
        with open(folder / "cifar-100-python" / name, "wb") as f:
            pickle.dump(batch, f)


def commit() -> str:
    """The short commit of HEAD, with "+ uncommitted changes" when the library or the
    experiments differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    sha = head.stdout.strip() or "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "nanograd_ad", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{sha} + uncommitted changes" if dirty else sha


def shrink_png(source: Path, target: Path) -> None:
    """Copy a plot as a palette PNG (256 colours) when that is smaller, else as it is."""
    from PIL import Image

    with Image.open(source) as image:
        buffer = io.BytesIO()
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            buffer, format="PNG", optimize=True
        )
    if buffer.tell() < source.stat().st_size:
        target.write_bytes(buffer.getvalue())
    else:
        shutil.copyfile(source, target)


def alt_text(name: str, png: str) -> str:
    """The alt text of a plot: CAPTIONS, or one made from the file name."""
    if png in CAPTIONS:
        return CAPTIONS[png]
    print(f"  {name}: no caption for {png} in CAPTIONS; alt text made from its name", file=sys.stderr)
    return f"{name} quick run: " + Path(png).stem.replace("_", " ").replace("-", " ")


def run_one(name: str, scratch: Path) -> tuple[bool, str]:
    """Run one experiment's quick mode and write its files; (succeeded, one line of outcome)."""
    out = scratch / name
    command = ["nanograd-ad", "reproduce", name, "--quick"]
    extra: list[str] = []
    synthetic = False
    if name == "ad-cifar":
        data = cifar100_folder()
        if data is None:
            data = scratch / "synthetic-data"
            write_synthetic_cifar100(data, SYNTHETIC_TRAIN, SYNTHETIC_TEST)
            synthetic = True
        extra = ["--data", "cifar100", "--data-dir", str(data)]
    argv = [sys.executable, "-m", "nanograd_ad", *command[1:], "--no-progress", "--out", str(out), *extra]
    env = {**os.environ, **ONE_THREAD, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {TIMEOUT_S} s"
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n    ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        return False, f"exit code {done.returncode} after {seconds:.0f} s:\n    {tail}"
    plots = sorted(out.glob("*.png"))
    if not plots:
        return False, f"no PNG plot in {out}"

    folder = PAGES / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for png in plots:
        shrink_png(png, folder / png.name)

    printed = done.stdout.replace(str(out), f"results/{name}")
    if synthetic:
        printed = printed.replace(str(scratch / "synthetic-data"), "SYNTHETIC")
    fence = "````" if "```" in printed else "```"
    (folder / "table.md").write_text(f"{fence}text\n{printed.rstrip()}\n{fence}\n", encoding="utf-8")

    figures = [f"![{alt_text(name, p.name)}]({name}/{p.name})\n" for p in plots]
    (folder / "figures.md").write_text("\n".join(figures), encoding="utf-8")

    config = json.loads((out / "results.json").read_text(encoding="utf-8")).get("config", {})
    runs, epochs = config.get("runs"), config.get("epochs")
    shape = f"{runs} run{'s' if runs != 1 else ''} × {epochs} epochs" if runs and epochs else "see the header"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shown = " ".join(command + (["--data", "cifar100", "--data-dir", "SYNTHETIC"] if synthetic else []))
    lines = [
        f"**These are the numbers of the quick run** (`{shown}`): {shape}, far shorter than the "
        "full run (the command above) and the paper's protocol where it has one, so they show "
        "what the experiment prints and draws, not a reproduction. "
        f"Generated {when} from commit {commit()} by `python docs/reproductions/generate.py {name}` "
        f"({seconds:.0f} s, one BLAS thread).",
    ]
    if synthetic:
        lines.append(
            '\n!!! warning "Synthetic data"\n'
            "    CIFAR-100 was not available where these files were generated, so this quick run "
            f"used a **synthetic** stand-in in the official format: {SYNTHETIC_TRAIN} training "
            f"and {SYNTHETIC_TEST} test images of random pixels, labels cycling through the 100 "
            "classes. There is nothing to learn in it: the accuracies are chance (about 1 %). "
            "It shows the table and plot the run gives, not a result."
        )
    (folder / "run.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in folder.iterdir())
    return (
        True,
        f"{seconds:.0f} s, {len(plots)} plot(s), {size / 1024:.0f} kB written to {folder.relative_to(ROOT)}",
    )


def main(argv: list[str] | None = None) -> int:
    known = experiment_names()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"experiments (default all: {', '.join(known)})"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(known)}")
    failed = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reproductions-") as scratch:
        for name in args.names or known:
            print(f"{name} ...", flush=True)
            ok, outcome = run_one(name, Path(scratch))
            print(f"  {'done' if ok else 'FAILED'}: {outcome}", flush=True)
            if not ok:
                failed.append(name)
    print(f"{time.perf_counter() - start:.0f} s in all", end="")
    print(f"; failed (their previous files kept): {', '.join(failed)}" if failed else "; all written")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
