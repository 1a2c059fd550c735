"""Our SAM 2.1 checkpoints against Meta's own `sam2` package: a file from save_checkpoint loads
strictly into the model Meta's build_sam2 makes (bar the HQ-SAM 2 keys, which Meta's SAM 2.1
does not have), a Meta state dict loads into ours through load_checkpoint, and Meta's
SAM2ImagePredictor then gives our masks (HQ token off), fp32.

Skipped unless sam2 is installed. It is an sdist with a CUDA extension that CI must not build;
install it into the venv without build isolation, the extension or any dependency (so pip leaves
torch alone), then its two small import-time dependencies:
    SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps sam2==1.1.0
    pip install --no-deps iopath portalocker
"""

import numpy as np
import pytest
import torch

from samhq_train.inference import SamHQPredictor
from samhq_train.model import build_sam_hq, load_checkpoint, save_checkpoint, without_hq
from tests.reference import randomize_

from .conftest import predictor_prompts

pytest.importorskip("sam2")  # its import initialises Hydra globally: tests/conftest.py undoes it
from hydra import initialize_config_module  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from sam2.build_sam import build_sam2  # noqa: E402
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402

ATOL = 1e-4
VARIANT = "sam2.1_hq_hiera_demo"
META_CONFIG = "configs/sam2.1/sam2.1_hiera_l.yaml"
# sam2.1_hiera_l.yaml shrunk to the miniature of the fixtures (our sam2.1_hq_hiera_demo)
MINIATURE = [
    "++model.image_encoder.trunk.embed_dim=24",
    "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,3,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.trunk.window_spec=[8,4,14,7]",
    "++model.image_encoder.neck.d_model=64",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=64",
    "++model.image_encoder.neck.backbone_channel_list=[192,96,48,24]",
    "++model.memory_attention.d_model=64",
    "++model.memory_attention.num_layers=1",
    "++model.memory_attention.layer.d_model=64",
    "++model.memory_attention.layer.dim_feedforward=128",
    "++model.memory_attention.layer.self_attention.embedding_dim=64",
    "++model.memory_attention.layer.cross_attention.embedding_dim=64",
    "++model.memory_encoder.in_dim=64",
    "++model.memory_encoder.mask_downsampler.embed_dim=64",
    "++model.memory_encoder.fuser.layer.dim=64",
    "++model.image_size=256",
]
IMAGE = np.random.default_rng(7).integers(0, 256, (192, 320, 3), dtype=np.uint8)
BOX = [30.0, 20.0, 250.0, 170.0]


def build_meta_miniature() -> torch.nn.Module:
    """Meta's SAM2Base from its own config and build_sam2 (with its inference post-processing
    settings), default init, eval mode, CPU. A caller that imports this module inside a test
    (tests/inference/amg_reference.py) has just initialised Hydra through sam2's import."""
    GlobalHydra.instance().clear()
    with initialize_config_module("sam2", version_base="1.2"):
        return build_sam2(META_CONFIG, device="cpu", hydra_overrides_extra=MINIATURE)


def meta_prediction(meta_model, multimask_output: bool) -> tuple[np.ndarray, ...]:
    predictor = SAM2ImagePredictor(meta_model)
    s = meta_model.image_size  # the predictor's feature sizes are written for 1024 px
    predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    predictor.set_image(IMAGE)
    with torch.no_grad():
        return predictor.predict(
            box=np.array(BOX), multimask_output=multimask_output, return_logits=True
        )


def our_prediction(model, multimask_output: bool) -> tuple[np.ndarray, ...]:
    """SamHQPredictor's image features, then plain SAM 2.1 (use_hq=False) on the box as
    SAM2ImagePredictor scales it: (masks M x H x W logits, IoU M, low-res M x S/4 x S/4)."""
    predictor = SamHQPredictor(model)
    predictor.set_image(IMAGE)
    prompts = predictor_prompts({"box": BOX}, IMAGE.shape[:2], model.image_size)
    with torch.no_grad():
        low_res, iou = model.decode(
            predictor.features, multimask_output=multimask_output, use_hq=False, **prompts
        )
        masks = model.postprocess_masks(low_res[0, 0], None, IMAGE.shape[:2])
    return masks.numpy(), iou[0, 0].numpy(), low_res[0, 0].numpy()


def assert_same_prediction(meta_model, model) -> None:
    for multimask_output in (False, True):
        theirs = meta_prediction(meta_model, multimask_output)
        ours = our_prediction(model, multimask_output)
        for name, a, b in zip(("masks", "iou", "low_res"), theirs, ours, strict=True):
            assert a.shape == b.shape, name
            np.testing.assert_allclose(a, b, atol=ATOL, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def ours():
    return randomize_(build_sam_hq(VARIANT, seed=0), seed=0)


def test_our_checkpoint_loads_strictly_in_meta_sam2(ours, tmp_path):
    path = save_checkpoint(ours, tmp_path / "sam2.1_hq_hiera_demo.pt", "sam_hq")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert list(saved) == ["model"]  # Meta's layout
    meta_model = build_meta_miniature()
    meta_state = without_hq(saved["model"])
    assert len(saved["model"]) - len(meta_state) == 13  # hf_token, hf_mlp, embedding_maskfeature
    assert list(meta_state) == list(meta_model.state_dict())  # same names, same order
    meta_model.load_state_dict(meta_state, strict=True)
    assert_same_prediction(meta_model, ours)


def test_meta_checkpoint_loads_into_ours(tmp_path):
    meta_model = randomize_(build_meta_miniature(), seed=1)
    path = tmp_path / "sam2.1_hiera_mini.pt"
    torch.save({"model": meta_model.state_dict()}, path)  # what Meta's checkpoint files hold
    model = load_checkpoint(path).eval()
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in meta_model.state_dict().items())
    assert_same_prediction(meta_model, model)
