"""The embedding cache's digest memo (cache/sidecar.py) treats a pipe in place of its json like
a damaged one (everything hashed again) without waiting for a writer. Mutation audit 17."""

import os
import threading

from samhq_train.cache.sidecar import FileDigestMemo


def test_a_pipe_in_place_of_the_memo_is_read_as_empty_without_waiting(tmp_path):
    """Mutant: Path.read_text (opening the pipe waits for a writer forever)."""
    pipe = tmp_path / FileDigestMemo.NAME
    os.mkfifo(pipe)
    made = []
    thread = threading.Thread(target=lambda: made.append(FileDigestMemo(tmp_path)), daemon=True)
    thread.start()
    thread.join(10)
    waited = thread.is_alive()
    if waited:  # let the waiting reader see an end of file, so its thread ends
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert not waited, "the memo waited on the pipe"
    assert made[0].entries == {} and not made[0].changed
