"""A random but structured scene for planning sequences: objects moving over the frames, that
appear late, vanish for a while (empty tracker masks), get detected twice when they appear
(duplicate tracks), false detections that start tracks nothing confirms, tracks that jump onto
another object (overlaps for occlusion suppression)."""

from dataclasses import dataclass, field

import numpy as np
import torch

from samhq_train.inference.video.concept_video.planning_detections import FrameDetections
from tests.inference.video.concept_video.meta_planning import box_logits, jitter, random_box

TRK_SIZE = 32
DET_SIZE = 24


@dataclass
class World:
    rng: np.random.Generator
    num_frames: int
    num_objects: int = 6
    starts: np.ndarray = None
    ends: np.ndarray = None
    boxes: list = field(default_factory=list)  # object -> frame -> box in TRK_SIZE pixels
    hidden: set = field(default_factory=set)  # (object, frame) not visible
    sources: dict = field(default_factory=dict)  # obj id -> object index or a fixed box
    blind: range = None  # frames on which the detector misses object 0 (tracked throughout)

    def __post_init__(self):
        rng, t = self.rng, self.num_frames
        self.starts = rng.integers(0, max(1, t // 2), self.num_objects)
        self.starts[0] = 0
        self.ends = np.minimum(t, self.starts + rng.integers(t // 2, t + 1, self.num_objects))
        self.ends[0] = t
        self.blind = range(t // 3, t - t // 3)
        for _ in range(self.num_objects):
            y0, x0, y1, x1 = random_box(TRK_SIZE, rng, 8, 14)
            vy, vx = rng.integers(-1, 2, size=2)
            path = []
            for f in range(t):
                dy = int(np.clip(vy * f, -y0, TRK_SIZE - y1))
                dx = int(np.clip(vx * f, -x0, TRK_SIZE - x1))
                path.append((y0 + dy, x0 + dx, y1 + dy, x1 + dx))
            self.boxes.append(path)
        for k in range(1, self.num_objects):
            for f in range(t):
                if rng.random() < 0.15:
                    self.hidden.add((k, f))

    def visible(self, frame: int) -> list[int]:
        return [k for k in range(self.num_objects)
                if self.starts[k] <= frame < self.ends[k] and (k, frame) not in self.hidden]

    def detections(self, frame: int) -> tuple[FrameDetections, list]:
        """Detections (masks at DET_SIZE) and each one's source (object index or box)."""
        rng, scale = self.rng, DET_SIZE / TRK_SIZE
        sources, boxes = [], []
        for k in self.visible(frame):
            copies = 2 if frame == self.starts[k] and rng.random() < 0.5 else 1
            if rng.random() >= 0.1 and not (k == 0 and frame in self.blind):
                sources += [k] * copies
        if rng.random() < 0.3:
            sources.append(random_box(TRK_SIZE, rng, 4, 8))
        for source in sources:
            box = self.boxes[source][frame] if isinstance(source, int) else source
            y0, x0, y1, x1 = (int(round(v * scale)) for v in box)
            box = (y0, x0, max(y1, y0 + 2), max(x1, x0 + 2))
            boxes.append(jitter(box, DET_SIZE, rng) if rng.random() < 0.5 else box)
        masks = box_logits(boxes, DET_SIZE, rng)
        scores = torch.from_numpy(rng.uniform(0.55, 1.0, len(boxes)).astype(np.float32))
        scores[torch.from_numpy(rng.random(len(boxes)) < 0.4)] = 0.95
        xyxy = torch.tensor([[x0, y0, x1, y1] for y0, x0, y1, x1 in boxes], dtype=torch.float32)
        xyxy = (xyxy / DET_SIZE).reshape(-1, 4)
        if len(boxes) and not isinstance(sources[-1], int) and rng.random() < 0.5:
            xyxy[-1] = torch.tensor([0.0, 0.0, 0.02, 0.04])  # a false one by the corner
        return FrameDetections(xyxy, masks, scores), sources

    def tracker_outputs(self, frame: int, obj_ids: np.ndarray):
        """The tracker's logits (TRK_SIZE) and object score logits for the tracked ids."""
        rng, boxes = self.rng, []
        visible = self.visible(frame)
        for obj_id in map(int, obj_ids):
            source = self.sources[obj_id]
            if not isinstance(source, int):
                boxes.append(source)
            elif source in visible:
                boxes.append(self.boxes[source][frame])
            elif visible and rng.random() < 0.4:  # drifted onto another object
                other = visible[rng.integers(len(visible))]
                boxes.append(jitter(self.boxes[other][frame], TRK_SIZE, rng))
            else:
                boxes.append(None)
        masks = box_logits(boxes, TRK_SIZE, rng)
        scores = torch.from_numpy(rng.normal(1.5, 1.5, len(boxes)).astype(np.float32))
        return masks, scores

    def add_objects(self, new_obj_ids, new_det_inds, sources):
        for obj_id, det in zip(map(int, new_obj_ids), new_det_inds):
            self.sources[obj_id] = sources[det]
