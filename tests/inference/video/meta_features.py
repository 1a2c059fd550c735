"""Meta's video predictors (sam2's SAM2VideoPredictor, sam3's Sam3TrackerPredictor) keep the
backbone features of the last frame only and run the image encoder again on every pass over the
video. keep_every_frames_features keeps them for every frame of an inference state instead: the
same features (the backbone sees the frame alone, fp32, eval), computed once per frame and run;
Meta's tracking code is left unchanged, and ours is not touched."""


def keep_every_frames_features(meta) -> None:
    """Wrap meta._get_image_feature so that a frame's features are computed once per inference
    state and handed back through Meta's own one-frame cache (state["cached_features"])."""
    get = meta._get_image_feature

    def get_kept(state, frame_idx, batch_size):
        kept = state.setdefault("every_frames_features", {})
        if frame_idx in kept:
            state["cached_features"] = {frame_idx: kept[frame_idx]}
        features = get(state, frame_idx, batch_size)
        kept[frame_idx] = state["cached_features"][frame_idx]
        return features

    meta._get_image_feature = get_kept
