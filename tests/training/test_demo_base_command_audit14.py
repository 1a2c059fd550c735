"""samhq-make-demo-base's defaults that data/demo_base/README.md's regenerate commands rely on
(they pass --steps, --lr, --warmup and the seeds of training, not these; audit 14): the base's
images are 1,024 of data seed 1 (the demo's own are seed 0: the base never saw them), batch 8,
a 0.75-1.25 scale jitter, 16 demo val images monitored."""

from samhq_train.cli.make_demo_base import parse_args


def test_the_defaults_are_the_shipped_bases_recipe(tmp_path):
    """Mutants: the image seed the demo's own (0); another number of val images monitored."""
    settings, threads = parse_args(["--steps", "3600", "--lr", "2e-3", "--warmup", "200",
                                    "--out", str(tmp_path / "base.safetensors")])
    assert (settings.image_seed, settings.num_images, settings.batch_size) == (1, 1024, 8)
    assert settings.scale_range == (0.75, 1.25) and settings.num_val == 16
    assert settings.variant == "vit_demo_base" and not settings.all_prompts and threads == 0
