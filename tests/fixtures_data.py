"""Tiny datasets written in each supported on-disk format, into a folder the test gives.

Never the real data: a few images per class, generated, with the exact file layout the loaders in
core.data read (CIFAR-100's python pickles in torchvision's layout, written with protocol 2 and
bytes keys as Python 2 wrote them; ImageFolder trees; FGVC-Aircraft's folders and annotation files).
"""
from __future__ import annotations

import gzip
import pickle
import pickletools
from pathlib import Path

import numpy as np
from PIL import Image

from core import load_bundled

__all__ = ["write_cifar100", "write_image_tree", "write_fgvc", "write_malicious_pickle", "write_fashion_idx",
           "FGVC_TREE"]


def write_cifar100(root: Path, train_per_class: int = 5, test_per_class: int = 2, seed: int = 0,
                   python2: bool = True) -> list[str]:
    """``root/cifar-100-python/{train,test,meta}`` for the 100 fine classes; returns the fine names.

    python2: write the pickles as Python 2's cPickle did (protocol 2, every str — keys, names and the
    arrays' raw data — as a byte string, BINSTRING), which is what the real files hold; else as
    Python 3 writes protocol 2 (bytes keys and names, data through ``_codecs.encode``).
    Image i of class k has every pixel of its first row set to k, so tests can check labels travel
    with their images.
    """
    names = load_bundled("cifar100").leaves  # torchvision's fine-label order (alphabetical)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    text = (lambda v: v) if python2 else (lambda v: v.encode())
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = np.tile(np.arange(len(names)), per_class)  # interleaved, as the real files are shuffled
        data = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
        data[:, :, 0, :] = labels[:, None, None]
        data = data.reshape(len(labels), -1)
        entry = {text("filenames"): [text(f"img_{i}.png") for i in range(len(labels))],
                 text("batch_label"): text(split), text("fine_labels"): labels.tolist(),
                 text("coarse_labels"): (labels // 5).tolist(), text("data"): _Py2Array(data) if python2 else data}
        (folder / split).write_bytes(_dumps(entry, python2))
    meta = {text("fine_label_names"): [text(n) for n in names],
            text("coarse_label_names"): [text(f"c{i}") for i in range(20)]}
    (folder / "meta").write_bytes(_dumps(meta, python2))
    return names


class _Py2Array:
    """Pickles as a numpy array whose raw data is a str, as Python 2 numpy pickled it."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __reduce__(self):
        rebuild, (cls, shape, _), state = self.array.__reduce__()
        return rebuild, (cls, shape, "b"), (*state[:-1], state[-1].decode("latin1"))


def _dumps(obj, python2: bool) -> bytes:
    """Protocol-2 pickle; with python2, every unicode string opcode becomes a Python 2 byte string."""
    raw = pickle.dumps(obj, protocol=2)
    if not python2:
        return raw
    out, last = bytearray(), 0
    for op, arg, pos in pickletools.genops(raw):
        if op.name == "BINUNICODE":
            encoded = arg.encode("latin1")
            out += raw[last:pos] + b"T" + len(encoded).to_bytes(4, "little") + encoded
            last = pos + 5 + len(arg.encode("utf-8"))
    return bytes(out + raw[last:])


class _RunsCode:
    """Unpickling this object writes a marker file: what a malicious pickle would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def write_malicious_pickle(path: Path, marker: Path) -> None:
    """A CIFAR-looking batch whose unpickling (by a plain pickle.load) would create ``marker``."""
    Path(path).write_bytes(pickle.dumps({b"data": _RunsCode(Path(marker)), b"fine_labels": [0]}, protocol=2))


def write_image_tree(root: Path, classes: dict[str, int], size: int = 8, seed: int = 0) -> None:
    """PNG files: ``classes`` maps a relative folder ("a/b" for nesting) to its number of images.

    Images of the same class share a colour (class index × 20 in the red channel).
    """
    rng = np.random.default_rng(seed)
    for index, (folder, count) in enumerate(classes.items()):
        target = Path(root) / folder
        target.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            pixels[..., 0] = (index * 20) % 256
            Image.fromarray(pixels).save(target / f"img{i:03d}.png")


# manufacturer → family → variants; "F-16A/B" exercises the "/" in variant names
FGVC_TREE = {
    "Boeing": {"Boeing 737": ["737-200", "737-300"], "Boeing 747": ["747-100"]},
    "Airbus": {"A320": ["A320", "A321"]},
    "Lockheed Martin": {"F-16": ["F-16A/B"]},
}


def write_fgvc(root: Path, per_split: int = 2, height: int = 44, width: int = 40) -> list[str]:
    """``root/fgvc-aircraft-2013b/data`` for FGVC_TREE with ``per_split`` images per variant and split.

    Each JPEG's bottom 20 rows are a white banner over a black picture. Returns the variants in
    variants.txt order (which is not sorted, as in the real file).
    """
    data = Path(root) / "fgvc-aircraft-2013b" / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    rows = [(v, f, m) for m, families in FGVC_TREE.items() for f, variants in families.items() for v in variants]
    variants = [v for v, _, _ in rows][::-1]
    (data / "variants.txt").write_text("".join(v + "\n" for v in variants))
    (data / "families.txt").write_text("".join(sorted({f + "\n" for _, f, _ in rows})))
    (data / "manufacturers.txt").write_text("".join(sorted({m + "\n" for _, _, m in rows})))
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    picture[-20:] = 255
    image_id = 1000000
    for split in ("train", "val", "test"):
        lines = {"variant": [], "family": [], "manufacturer": []}
        for variant, family, maker in rows:
            for _ in range(per_split):
                image_id += 1
                Image.fromarray(picture).save(data / "images" / f"{image_id}.jpg", quality=95)
                for level, name in (("variant", variant), ("family", family), ("manufacturer", maker)):
                    lines[level].append(f"{image_id} {name}\n")
        for level, text in lines.items():
            (data / f"images_{level}_{split}.txt").write_text("".join(text))
    return variants


def write_fashion_idx(folder: Path, train_per_class: int = 10, test_per_class: int = 2) -> None:
    """The four gzipped idx files of Fashion-MNIST in ``folder``; image pixels all equal their label."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = np.tile(np.arange(10, dtype=np.uint8), per_class)
        images = np.repeat(labels, 28 * 28).reshape(-1, 28, 28)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
            (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
