"""The pieces of a training run around the LightningModule, which train() wires together:
loggers and callbacks (callbacks.py; csv_logger.py: the CSV logger a resumed run continues), what
a finished run leaves (outputs.py: the results table, the end-of-run exports and the closing
report) and the temporaries an interrupted write left, removed at the start (temporaries.py)."""
