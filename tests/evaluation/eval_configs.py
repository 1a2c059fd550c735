"""The evaluation tests' configs: conf/eval.yaml composed with the small demo data."""

from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR

CONF = CONFIG_DIR  # importing it registers the records' defaults the configs name
NUM_VAL = 2
# small demo data for the runner tests (the demo marker records these parameters)
DEMO = ["data=demo", "data.demo.num_train=2", f"data.demo.num_val={NUM_VAL}",
        "data.demo.height=96", "data.demo.width=128", "data.num_workers=0",
        "data.val_batch_size=2"]


def eval_cfg(out, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("eval", overrides=[f"output_dir={out}", "progress=false", *overrides])


def demo_cfg(out, data_root, *overrides):
    return eval_cfg(out, *DEMO, f"data.root={data_root}", *overrides)
