"""A function replaced by one that counts its calls and calls it."""


def count_calls(monkeypatch, owner, name: str) -> list:
    """`owner.name` (a module's function) counted for the rest of the test: the returned list gets
    one entry per call."""
    calls = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls
