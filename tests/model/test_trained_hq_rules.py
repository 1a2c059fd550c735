"""The two answers to "are this file's HQ parts trained": holds_trained_hq (by the format read and
the file's record: the video and concept runs, which have no path rule) and untrained_hq (by the
file itself: the commands' note and plain decode). They differ on the SAM 1 demo base alone (a
safetensors file whose HQ parts are its seeded init, known by its bytes), which no caller of
holds_trained_hq can load: the runs take SAM 2.1 / SAM 3 files, and those demo bases agree."""

import pytest

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.model import load_checkpoint_with_provenance
from samhq_train.model.formats import holds_trained_hq
from samhq_train.training.run_families import CONCEPT_RUN_FAMILIES, VIDEO_RUN_FAMILIES

SHIPPED = sorted(DEMO_BASE_DIR.glob("*_demo_base.*"))


def answers(path):
    loaded = load_checkpoint_with_provenance(path)
    by_format = holds_trained_hq(loaded.format, loaded.provenance)
    return loaded.model.family, by_format, loaded.model.untrained_hq is None


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_rules_agree_on_every_demo_base_a_run_takes(path):
    family, by_format, by_file = answers(path)
    if family in (*VIDEO_RUN_FAMILIES, *CONCEPT_RUN_FAMILIES):
        assert by_format == by_file is False, path.name
    else:  # the one difference, documented at holds_trained_hq
        assert (family, by_format, by_file) == ("sam1", True, False), path.name


def test_every_demo_base_is_looked_at():
    assert len(SHIPPED) == 3, SHIPPED
