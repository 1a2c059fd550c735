"""The shipped demo base (data/demo_base/): a real SAM trained on coarse labels, on top of which
HQ training on the fine masks wins on boundaries (what the demo shows)."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from samhq_train.batch_forward import decode_prompts
from samhq_train.data import Collate, PromptConfig, PromptedDataset
from samhq_train.data.coarsen import coarsen_mask
from samhq_train.data.demo import DemoSource, make_demo_sample
from samhq_train.data.transform_builders import build_eval_transform
from samhq_train.evaluation.evaluate import DatasetMetrics, predict_batch
from samhq_train.model import (
    FAMILIES,
    build_sam_hq,
    file_sha256,
    parameter_groups,
    trained_parameter_names,
)
from samhq_train.training.losses import PointSampledMaskLoss

ROOT = Path(__file__).resolve().parents[2]
BASE_DIR = ROOT / "data" / "demo_base"
BASE = BASE_DIR / "vit_demo_base.safetensors"
MIN_SAM_MIOU = 0.5  # issue 11: the SAM baseline is a real segmenter
# the last quarter at lr / 10, as the demo's schedule; measured over SAM (mBIoU, mIoU): 400 steps
# +0.080, +0.030; 300 steps +0.072, +0.029; 200 steps +0.054, +0.015 (again in session 24, on
# the CI machine: half the CPU time of 300 steps)
STEPS = 200
NUM_TRAIN = 64
HQ_TOKEN_ONLY = True  # the benchmark's and the demo's HQ output
needs_base = pytest.mark.skipif(not BASE.is_file(), reason=f"{BASE} not present")


def _batch(source, size: int) -> dict:
    """All of `source` as one box-prompted batch in the benchmark framing (S x S resize)."""
    prompts = PromptConfig()
    data = PromptedDataset(
        source, build_eval_transform(size), prompts, train=False, strict=True, name=source.name
    )
    return Collate(prompts, train=False)([data[i] for i in range(len(data))])


def _scores(model, batch) -> dict:
    logits = predict_batch(
        model, batch, prompt="box", sam_baseline=True, hq_token_only=HQ_TOKEN_ONLY
    )
    out = {}
    for kind in ("sam", "hq"):
        metrics = DatasetMetrics([batch["dataset"][0]])
        metrics.update(batch["dataset"], logits[kind], batch["gt_original"])
        out[kind] = metrics.compute()[batch["dataset"][0]]
    return out


def test_coarsen_mask_simplifies_but_keeps_the_object():
    _, fine = make_demo_sample(0, "val", 0, 256, 320)  # concentric thin rings
    coarse = coarsen_mask(fine)
    assert coarse.dtype == np.uint8 and set(np.unique(coarse)) <= {0, 255}
    f, c = fine > 128, coarse > 128
    assert (f & ~c).sum() < 0.1 * f.sum()  # the object is kept, but for a sliver of its outline
    assert c.sum() > 1.4 * f.sum()  # the gaps between the rings are bridged
    identity = coarsen_mask(fine, close_px=0, max_hole_fraction=0, min_area_px=0, polygon_eps_px=0)
    assert np.array_equal(identity > 128, f)


def test_demo_source_is_the_demo_data_and_disjoint_from_val():
    base = DemoSource(1, "train", 2, coarse=True)
    val = DemoSource(0, "val", 2)
    image, mask = make_demo_sample(0, "val", 1, 256, 320)
    assert np.array_equal(val[1]["image"], image) and np.array_equal(val[1]["mask"], mask)
    assert not np.array_equal(base[1]["image"], image)
    assert np.array_equal(
        base[0]["mask"], coarsen_mask(make_demo_sample(1, "train", 0, 256, 320)[1])
    )


@needs_base
def test_shipped_base_is_the_one_its_readme_names():
    readme = (BASE_DIR / "README.md").read_text()
    assert re.search(r"\b[0-9a-f]{64}\b", readme).group(0) == file_sha256(BASE)
    assert BASE.stat().st_size < 8 * 2**20
    assert "python scripts/make_demo_base.py" in readme


@needs_base
def test_the_shipped_base_sam_is_a_real_segmenter_on_the_demo_val_set():
    """Issue 11: the SAM baseline of the demo (16 val images, fine masks, GT boxes) clearly above
    0.5 mIoU."""
    model = build_sam_hq("vit_demo_base", checkpoint=BASE, policy="hq").eval()
    scores = _scores(model, _batch(DemoSource(0, "val", 16), model.image_size))
    assert scores["sam"]["mIoU"] > MIN_SAM_MIOU, scores
    assert scores["sam"]["mIoU"] > 3 * scores["hq"]["mIoU"], scores  # the untrained HQ token is noise


@needs_base
def test_hq_training_on_the_shipped_base_beats_sam_on_boundaries():
    """A short HQ-only run (policy hq: encoder and SAM decoder frozen, features encoded once) on
    64 fine demo training images, then 8 demo val images: SAM-HQ wins on mBIoU and does not lose
    mIoU; nothing outside the HQ parts moves."""
    torch.manual_seed(0)
    model = build_sam_hq("vit_demo_base", checkpoint=BASE, policy="hq")
    size = model.image_size
    train = _batch(DemoSource(0, "train", NUM_TRAIN), size)
    val = _batch(DemoSource(0, "val", 8), size)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = _scores(model, val)
    # read as trained: the untrained HQ token alone is noise (SAM + HQ would read as SAM)
    assert before["hq"]["mIoU"] < before["sam"]["mIoU"] / 3, before

    with torch.no_grad():
        features = model.encode(train["image"])  # the encoder is frozen: encode once
    optimizer = torch.optim.Adam(parameter_groups(model, "hq"), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3 * STEPS // 4, gamma=0.1)
    loss_fn = PointSampledMaskLoss(num_points=4096)
    target = train["mask"] / 255.0
    generator = torch.Generator().manual_seed(0)
    model.train()
    for step in range(STEPS):
        index = torch.randperm(NUM_TRAIN, generator=generator)[:4]
        batch = {
            "image": train["image"][index],
            "prompt_type": ["box"] * 4,
            "boxes": train["boxes"][index],
        }
        low_res, _ = decode_prompts(
            model, features.select(index), batch, hq_token_only=HQ_TOKEN_ONLY
        )
        loss = loss_fn(low_res, target[index], generator=generator)["loss"]
        if step == 0:  # trained as read: the untrained HQ token alone is far from SAM's mask
            with torch.no_grad():
                sam, _ = decode_prompts(model, features.select(index), batch, use_hq=False)
                sam_loss = loss_fn(sam, target[index], generator=torch.Generator())["loss"]
            assert loss > 2 * sam_loss, (float(loss), float(sam_loss))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    after = _scores(model, val)

    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert set(trained_parameter_names(model, "hq")) == {
        n for n, _ in model.named_parameters() if FAMILIES["sam1"].is_hq_key(n)
    }
    assert after["sam"] == before["sam"]  # SAM itself did not move
    assert after["hq"]["mBIoU"] > after["sam"]["mBIoU"] + 0.03, (before, after)
    assert after["hq"]["mIoU"] >= after["sam"]["mIoU"], (before, after)
