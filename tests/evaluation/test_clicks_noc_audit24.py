"""clicks.noc_ious: targets in percent, 1 to 100 both included; under 1 (a fraction meant as a
percentage) refused."""

import pytest

from samhq_train.data.clicks import ClickProtocol
from samhq_train.settings import SettingError


@pytest.mark.parametrize("targets", [[1], [100], [1, 50.5, 100]])
def test_the_ends_of_the_range_are_targets(targets):
    assert list(ClickProtocol.from_mapping({"noc_ious": targets}).noc_ious) == targets


@pytest.mark.parametrize("targets", [[0.99], [100.01], [0], [85, 101]])
def test_beyond_the_range_is_refused(targets):
    with pytest.raises(SettingError, match=r"clicks\.noc_ious=.*\[1, 100\]"):
        ClickProtocol.from_mapping({"noc_ious": targets})
