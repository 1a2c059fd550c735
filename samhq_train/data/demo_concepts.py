"""The concept demo: images holding several of the demo's shapes, annotated as a COCO (Roboflow)
export whose categories are the shapes' names, for fine-tuning SAM 3's concept detector on the
CPU (a noun phrase per category: "ring", "tree", "blob with holes", "wheel").

``ensure_concept_demo(root)`` writes, once, ``root/{train,val}/NNNN.jpg``,
``root/{train,val}/_annotations.coco.json`` and ``root/bpe_merges.txt.gz``, the BPE merges file
of the sam3_hq_demo miniature's text encoder (CLIP's own file is neither shipped nor fetched;
this one is learnt from a short text about the shapes, so each word of the phrases is one
token). Each image is split into 2 x 2 cells, one to three
of them hold a shape (so a category has zero, one or several instances in an image); every
instance's mask is an uncompressed COCO RLE (the rings and wheels have holes a polygon cannot
draw), its box the mask's tight box. The same parameters always give the same files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from ..clip_tokenizer import learn_merges, write_merges_file
from ..coco_masks import uncompressed_rle
from .demo import (
    SHAPES,
    SPLITS,
    check_generator_settings,
    noisy_uint8,
    paint_object,
    shape_mask,
    textured_background,
)
from .write_once import write_once, write_picture

log = logging.getLogger(__name__)

VERSION = 2  # 2: the merges file
ANNOTATIONS = "_annotations.coco.json"
PHRASES = {"rings": "ring", "branches": "tree", "holes": "blob with holes", "wheel": "wheel"}
DEMO_MERGES_FILE = "bpe_merges.txt.gz"
# the sam3_hq_demo text encoder's 764 ids: 512 byte symbols, these merges, start and end
DEMO_MERGE_COUNT = 250
# the text the demo's merges are learnt from (it holds over DEMO_MERGE_COUNT merges)
MERGES_CORPUS = """
A ring is a round band with a hole in the middle; a wheel is a ring with spokes and a hub.
The tree has a trunk and branches, and every branch of the tree splits into smaller branches.
A blob with holes is a soft round shape with small holes in it, like a slice of cheese.
Rings, trees, wheels and blobs with holes lie on a textured background in each picture.
Find every ring, every tree, every wheel and every blob with holes; draw a box around each.
The wheel turns, the ring shines, the tree grows, the blob with holes floats in the water.
A red ring beside a green tree, a blue wheel under a yellow blob with holes near the edge.
Squares, circles, triangles and stars: simple figures painted over noisy stripes and spots.
Two bicycles lean against a fence; their wheels have thin metal spokes and rubber tyres.
Golden wedding rings glitter on velvet cushions inside the jeweller's quiet window display.
Old oak trees and young birch trees throw long shadows across the meadow every afternoon.
Sponges, coral and lava stones are porous objects full of tiny openings and deep cavities.
The camera photographs each image; annotators outline every object and name its category.
"""
CATEGORY_IDS = {shape: k + 1 for k, shape in enumerate(SHAPES)}
CONCEPT_DEMO_LEAST = {"num_train": 1, "num_val": 0, "size": 64}
GRID = 2  # cells per side


def concept_demo_sample(seed: int, split: str, index: int, size: int):
    """(image size x size x 3 uint8 RGB, [(shape, mask size x size uint8 0/255), ...])."""
    rng = np.random.default_rng([seed, SPLITS[split], index, len(PHRASES)])
    img = textured_background(rng, size, size)
    cell = size // GRID
    objects = []
    for k in rng.permutation(GRID * GRID)[: int(rng.integers(1, GRID * GRID))]:
        row, col = divmod(int(k), GRID)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        mask = np.zeros((size, size), np.uint8)
        mask[row * cell:(row + 1) * cell, col * cell:(col + 1) * cell] = shape_mask(
            rng, shape, cell, cell
        )
        img = paint_object(rng, img, mask)
        objects.append((shape, mask))
    return noisy_uint8(rng, img), objects


def tight_box(mask: np.ndarray) -> list[float]:
    """COCO's [x, y, width, height] of the mask's pixels."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]


def write_concept_split(folder: Path, seed: int, split: str, count: int, size: int) -> None:
    """count images and their _annotations.coco.json into folder."""
    folder.mkdir(parents=True)
    images, annotations = [], []
    for i in range(count):
        image, objects = concept_demo_sample(seed, split, i, size)
        name = f"{i:04d}.jpg"
        write_picture(folder / name, cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                      (cv2.IMWRITE_JPEG_QUALITY, 95))
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for shape, mask in objects:
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1,
                "category_id": CATEGORY_IDS[shape], "bbox": tight_box(mask),
                "area": int((mask > 0).sum()), "segmentation": uncompressed_rle(mask),
                "iscrowd": 0,
            })
    categories = [{"id": CATEGORY_IDS[s], "name": PHRASES[s], "supercategory": "shapes"}
                  for s in SHAPES]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    (folder / ANNOTATIONS).write_text(json.dumps(coco))


def write_demo_merges(path: Path) -> int:
    """The demo's merges file (the same bytes every time); returns its vocabulary size."""
    return write_merges_file(path, learn_merges(MERGES_CORPUS, DEMO_MERGE_COUNT))


def ensure_concept_demo(
    root: str | Path, *, num_train: int = 48, num_val: int = 16, size: int = 256, seed: int = 0
) -> Path:
    """Create the concept demo under root unless it is there with these parameters (written
    atomically, never over a folder the generator did not write: data.write_once)."""
    settings = dict(num_train=num_train, num_val=num_val, size=size)
    check_generator_settings(settings, CONCEPT_DEMO_LEAST)
    root = Path(root).expanduser().resolve()
    params = {"version": VERSION, "kind": "concepts", **settings, "seed": int(seed)}

    def write(folder: Path) -> None:
        for split, count in {"train": num_train, "val": num_val}.items():
            write_concept_split(folder / split, seed, split, count, size)
        write_demo_merges(folder / DEMO_MERGES_FILE)

    if write_once(root, params, write):
        log.info("wrote the concept demo (%d train + %d val images) to %s",
                 num_train, num_val, root)
    return root
