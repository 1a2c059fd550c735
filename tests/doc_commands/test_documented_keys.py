"""Every config override the pages write in prose (`data.cache.views=4`, `clicks.enabled=true`)
names a key of a shipped config: the training config under each experiment and data source, or
the evaluation config. The ```bash commands are composed whole by test_hydra_commands.py; this
covers the keys named in the text around them."""

from __future__ import annotations

import re

from tests.documentation import ROOT, pages
from tests.test_doc_links import DATA_PAGES

# a dotted key set on the command line: `a.b=...`, `+a.b=...` (not a path, not a URL, not an
# environment variable's value: GLIBC_TUNABLES=glibc.malloc.x=...)
OVERRIDE = re.compile(r"(?<![\w./+=:-])\+{0,2}([a-z_]+(?:\.[\w+-]+)+)=")
# the compositions whose keys a page may name
# (those holding keys the pages set first: the later ones are composed only when a key is missing)
COMPOSITIONS = [
    ("train", []), ("eval", []),
    *[("train", [f"experiment={e}"]) for e in ("concept_finetune", "video_finetune", "paper")],
    ("train", ["data=folder"]), ("train", ["data=coco"]),
    *[("train", [f"experiment={e}"]) for e in (
        "finetune_decoder", "finetune_lora", "concept_demo", "video_demo", "video_demo_sam3",
    )],
]


def _keys(node, prefix: str, out: set[str]) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        out.add(path)
        _keys(value, path, out)


def config_keys(wanted: set[str]) -> set[str]:
    """The keys of COMPOSITIONS, composed in order until every wanted key is found (the rest
    only when a key is missing: a passing run composes few)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from samhq_train.config_defaults import CONFIG_DIR

    keys: set[str] = set()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for name, overrides in COMPOSITIONS:
            if wanted <= keys:
                break
            cfg = compose(name, overrides=overrides, return_hydra_config=True)
            _keys(OmegaConf.to_container(cfg, resolve=False), "", keys)
    return keys


def documented_overrides() -> dict[str, str]:
    """key -> the first page:line that sets it."""
    found: dict[str, str] = {}
    for path in [*pages(), *DATA_PAGES]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for key in OVERRIDE.findall(line):
                found.setdefault(key, f"{path.relative_to(ROOT)}:{n}")
    return found


def test_every_documented_override_is_a_key():
    documented = documented_overrides()
    keys = config_keys(set(documented))
    unknown = {k: where for k, where in documented.items() if k not in keys}
    assert not unknown, f"keys the pages set that no shipped config has: {unknown}"


def test_the_overrides_are_found():
    """The patterns see what they should (a broken one would check nothing)."""
    found = documented_overrides()
    assert {"data.cache.enabled", "clicks.enabled", "model.policy", "concept.policy"} <= set(found)
    assert OVERRIDE.findall("`a.b=1` +c.d=2 e=3 x/f.g=4 data.train_sets.0.image_ext=[.jpg] "
                            "V=g.m.t=1") == ["a.b", "c.d", "data.train_sets.0.image_ext"]
