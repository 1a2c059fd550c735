"""Every config refusal is one kind of error, errors.ConfigValueError, printed `config error: ...`:
the records' SettingError, the config check's ConfigError, the concept-video settings' error and
the fine-tuning runs' refusals (raised as ConfigValueError itself). The label has one home."""

from pathlib import Path

import pytest

from samhq_train.config_check import ConfigError
from samhq_train.errors import ConfigValueError, UserError, report
from samhq_train.inference.video.concept_video import ConceptVideoSettingError
from samhq_train.settings import SettingError

PACKAGE = Path(__file__).resolve().parents[1] / "samhq_train"


@pytest.mark.parametrize("kind", [SettingError, ConfigError, ConceptVideoSettingError])
def test_each_config_refusal_is_a_config_value_error_with_its_label(kind):
    assert issubclass(kind, ConfigValueError) and "label" not in vars(kind)
    assert kind.label == "config error"


@pytest.mark.parametrize("err", [
    ConfigValueError("data.root is not set: pass data.root=..."),
    SettingError("data.batch_size", 0, "an integer >= 1"),
    ConfigError("trainer.max_epochs=-2: expected an integer >= 1"),
    ConceptVideoSettingError("hotstart_delay=-1: expected an integer >= 0"),
])
def test_a_config_refusal_is_one_config_error_line(err, capsys):
    assert isinstance(err, UserError)
    report(err)
    assert capsys.readouterr().err == f"config error: {err}\n"


def test_the_config_error_label_is_set_once():
    setting = 'label = "config error"'
    homes = [str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py"))
             if setting in path.read_text(encoding="utf-8")]
    assert homes == ["errors.py"]
