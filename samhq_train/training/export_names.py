"""The file a video or a concept run exports into its export/ folder: one home, read by the run
that writes it and by the check stage (run/checks.py) that refuses it taken before training."""


def video_export_name(cfg) -> str:
    return f"{cfg.model.variant}_video.pt"


def concept_export_name(cfg) -> str:
    return f"{cfg.model.variant}_concept.pt"
