"""experiment=concept_demo's schedule, as the README's demo figures were measured with it: the lrs
rise over the recipe's 20-step warm-up, then stay at their base (the recipe's time scale of 20
would halve them by step 80) until the last 20 steps' cool-down."""

from hydra import compose, initialize_config_dir

from samhq_train.training.concept.run import concept_settings
from samhq_train.training.concept.schedule import concept_lr_lambda
from tests.training.helpers import CONF

STEPS_PER_EPOCH = 48  # the demo's 48 training images, batch 1


def test_demo_lr_stays_at_its_base_after_the_warm_up():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=concept_demo"])
    _, optim, _ = concept_settings(cfg)
    assert (optim.lr_transformer, optim.scheduler_warmup, optim.scheduler_cooldown) == (
        1e-3, 20, 20)
    epochs = int(cfg.trainer.max_epochs)
    assert (epochs, cfg.data.concept_demo.num_train) == (8, STEPS_PER_EPOCH)
    factor = concept_lr_lambda(STEPS_PER_EPOCH, epochs, timescale=optim.scheduler_timescale,
                               warmup=optim.scheduler_warmup, cooldown=optim.scheduler_cooldown)
    last = STEPS_PER_EPOCH * epochs - 1
    assert factor(10) < 0.6
    assert min(factor(s) for s in range(21, last - 20)) > 0.99
    assert factor(last) < 0.1
