"""The pieces of a training run around the LightningModule, which train() wires together:
loggers and callbacks (callbacks.py), and what a finished run leaves (outputs.py: the results
table, the end-of-run exports and the closing report)."""
