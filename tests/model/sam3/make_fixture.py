"""Writes tests/fixtures/sam3_meta_mini.pt from Meta's sam3 package (needs it installed):
python -m tests.model.sam3.make_fixture

The fixture holds the perturbed miniature in sam3.pt's layout, the image, the prompts (in
cases.py) and Meta's interactive predictor's outputs, so the parity test runs without sam3."""

from pathlib import Path

import torch

from .cases import BOX, LABELS, POINTS, make_image
from .meta_reference import VARIANT, build_meta_mini, meta_outputs

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sam3_meta_mini.pt"


def main() -> None:
    tracker, predictor, state = build_meta_mini()
    image = make_image()
    outputs, mask_input = meta_outputs(tracker, predictor, image)
    from importlib.metadata import version

    import sam3  # noqa: F401  (the version it was made with)

    torch.save(
        {
            "variant": VARIANT,
            "sam3_version": version("sam3"),
            "state_dict": state,
            "image": torch.from_numpy(image),
            "prompts": {"box": BOX, "points": POINTS, "labels": LABELS},
            "mask_input": mask_input,
            "outputs": outputs,
        },
        FIXTURE,
    )
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
