"""samhq-app binds its port before the model is read; a refusal after (a checkpoint that does
not load) closes the socket again: main() run in a process that goes on (a test, a notebook)
leaves no port taken."""

import pytest

from samhq_train.app import command
from samhq_train.app.command import main as app_main


def test_a_refused_checkpoint_closes_the_bound_socket(tmp_path, monkeypatch):
    bound = []
    real_bind = command.bind

    def recorded(host, port):
        bound.append(real_bind(host, port))
        return bound[-1]

    monkeypatch.setattr(command, "bind", recorded)
    with pytest.raises(SystemExit) as exit_info:
        app_main([str(tmp_path / "missing.pth"), "--port", "0"], serve=False)
    assert exit_info.value.code == 2
    (server,) = bound
    assert server.socket.fileno() == -1  # closed
