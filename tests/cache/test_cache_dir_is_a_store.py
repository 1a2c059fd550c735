"""data.cache.dir given as one encoder's store folder (`<cache>/<variant>-<id>/`, the folder that
holds store.json, of this model or another) is refused by the config check: the run built its
whole store again inside it (272 demo entries, minutes; hours on a real data set)."""

import pytest

from samhq_train.config_check import ConfigError, check_config
from tests.training.helpers import compose_cfg


def test_a_store_folder_given_as_the_cache_names_its_parent(tmp_path):
    store = tmp_path / "cache" / "sam2.1_hq_hiera_demo-0123456789abcdef"
    store.mkdir(parents=True)
    (store / "store.json").write_text("{}")
    cfg = compose_cfg(tmp_path / "out", tmp_path / "data", "data.cache.enabled=true",
                      f"data.cache.dir={store}")
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert str(err.value) == (
        f"data.cache.dir={store} is one encoder's folder inside an embedding cache (it holds "
        f"store.json): give the cache folder that holds it, data.cache.dir={tmp_path / 'cache'}")
    check_config(compose_cfg(tmp_path / "out", tmp_path / "data", "data.cache.enabled=true",
                             f"data.cache.dir={tmp_path / 'cache'}"))
