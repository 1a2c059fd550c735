"""samhq_train/imaging.py and drawing.py: image reading, the predictor resize and the overlay
picture, and the evaluation report's results table."""

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train import drawing, image_header, imaging
from samhq_train.data import DataError
from samhq_train.data import read_image as data_read_image
from samhq_train.evaluation.report import markdown_tables, results_tables
from samhq_train.inference import ImageReadError, load_image

ROOT = Path(__file__).resolve().parents[2]


def test_exif_orientation_is_ignored_by_every_reader(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=100)
    assert cv2.imread(str(path)).shape[:2] == (30, 20)  # OpenCV's default would rotate it
    stored = imaging.read_image(path)
    assert stored.shape == (20, 30, 3)
    np.testing.assert_array_equal(load_image(path), stored)
    np.testing.assert_array_equal(data_read_image(path), stored)


def test_one_message_per_problem_in_each_callers_error_type(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    for read, error in [(imaging.read_image, image_header.ImageFileError),
                        (data_read_image, DataError), (load_image, ImageReadError)]:
        with pytest.raises(error, match=r"cannot read image file .*junk.jpg: junk.jpg is not a "
                                        r"readable image"):
            read(tmp_path / "junk.jpg")
        with pytest.raises(error, match=r"image file not found: .*absent.png"):
            read(tmp_path / "absent.png")


def test_predictor_resize_is_pil_bilinear():
    from samhq_train.model.sam1 import LongestSideProcessing

    image = np.random.default_rng(1).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    out = LongestSideProcessing(64).resize_image(image)
    assert out.shape == (64, 43, 3)
    expected = np.array(Image.fromarray(image).resize((43, 64), Image.BILINEAR))
    np.testing.assert_array_equal(out, expected)


def test_draw_overlay_tints_outlines_and_marks_prompts():
    image = np.full((40, 50, 3), 100, np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[10:30, 10:30] = True
    gt = np.zeros((40, 50), bool)
    gt[5:35, 5:40] = True
    out = drawing.draw_overlay(image, [mask], gt, boxes=[[2, 2, 45, 36]], points=[[20, 20, 1]])
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    assert out[15, 25].tolist() == [152, 124, 60]  # inside: 0.6 x 100 + 0.4 x (230, 159, 0)
    assert out[10, 15].tolist() == drawing.PALETTE[0].tolist()  # the mask's outline
    assert out[5, 38].tolist() == list(drawing.GT_EDGE)
    assert out[20, 20].tolist() == list(drawing.POINT_COLORS[1])
    assert out[2, 20].tolist() == drawing.PALETTE[0].tolist()  # box 0 in mask 0's colour
    assert out[38, 48].tolist() == [100, 100, 100]
    small = drawing.draw_overlay(image[::2, ::2], [mask])  # resized to the masks' size
    assert small.shape == (40, 50, 3)


def test_results_table_for_the_runner_and_for_training():
    a = {"A": {"mIoU": 0.5, "mBIoU": 0.25, "count": 3}, "B": {"mIoU": 1.0, "mBIoU": 0.75, "count": 2}}
    table = results_tables({"before training": a, "after training": a}, first_column="validation")
    assert "| validation | mIoU | mBIoU | count |" in table
    assert "| after training | 50.00 | 25.00 | 3 |" in table
    assert "### Mean over 2 sets" in table and "| before training | 75.00 | 50.00 | 5 |" in table
    bench = markdown_tables({"results": {"hq": a, "sam": a}, "prompts": {"A": "box", "B": "box"}})
    assert "3 images, prompt: box" in bench
    assert bench.index("| SAM |") < bench.index("| SAM-HQ |")
    assert results_tables({}) == ""


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(project modules imported at top level, project imports inside functions)."""
    tree = ast.parse(path.read_text())
    top, nested = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("samhq_train"):
            names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            (top.update(names) if node in tree.body else nested.append(node.module))
        elif isinstance(node, ast.Import):
            mods = [a.name for a in node.names if a.name.startswith("samhq_train")]
            (top.update(mods) if node in tree.body else nested.extend(mods))
    return top, nested


def test_evaluation_has_no_cycles_and_no_function_level_project_imports():
    folder = ROOT / "samhq_train" / "evaluation"
    modules = {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        top, nested = _imports(path)
        assert not nested, f"{path.name} imports {nested} inside a function"
        prefix = "samhq_train.evaluation."
        graph[name] = {m[len(prefix):].split(".")[0] for m in top if m.startswith(prefix)} & set(modules)
    order, state = [], {}

    def visit(node, trail):
        assert state.get(node) != "open", f"import cycle: {' -> '.join([*trail, node])}"
        if state.get(node) is None:
            state[node] = "open"
            for dep in graph[node]:
                visit(dep, [*trail, node])
            state[node] = "done"
            order.append(node)

    for name in graph:
        visit(name, [])
    for script in ("check_parity.py", "benchmark.py"):
        text = (ROOT / "scripts" / script).read_text()
        assert "tests" not in _imports(ROOT / "scripts" / script)[0] and "sys.path" not in text
        assert "from tests" not in text and "import check_parity" not in text
