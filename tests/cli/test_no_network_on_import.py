"""The commands make no network request: albumentations' import asks pypi.org for its latest
version unless NO_ALBUMENTATIONS_UPDATE is set (samhq_train/__init__.py sets it)."""

import os
import subprocess
import sys

PROBE = """
import socket
asked = []
def refuse(host, *args, **kwargs):
    asked.append(host)
    raise OSError("no network in this test")
socket.getaddrinfo = refuse
import samhq_train.data.transforms  # library use, no command: the package sets the variable
import albumentations  # as transforms imports it when a pipeline is built
print(asked)
"""


def test_importing_the_data_transforms_asks_no_host():
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"
