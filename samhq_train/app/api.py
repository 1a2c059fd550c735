"""The answers behind the app's json API (server.py routes the requests here): the segmenter's
image prompts, the text mode's concepts and the video session's calls, one at a time under a lock,
each logged with its time."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from samhq_train.data.demo import make_demo_sample
from samhq_train.files import all_or_none, atomic_write_bytes, atomic_write_text, write_errors

from .concept import ConceptSession
from .engine import AppError, Options, Segmenter, free_stem, prompt_of, safe_stem
from .video import VideoSession

IMAGE_SAVE = ("_mask.png", "_sam_mask.png", ".json")  # after the stem: what a save writes
DEMO_IMAGES = 8  # val samples of the demo data (seed 0), made in memory
DEMO_SIZE = (256, 320)  # the demo data's H, W


def data_url(image: np.ndarray, fmt: str = ".png") -> str:
    """An RGB / grey uint8 array as a data: URL (PNG, or JPEG for large photos)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(fmt, image)
    if not ok:
        raise RuntimeError(f"could not encode an image as {fmt}")
    mime = "image/png" if fmt == ".png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data.tobytes()).decode()}"


class App:
    """The state behind the handler: the segmenter (one at a time), the output folder."""

    def __init__(
        self,
        segmenter: Segmenter,
        out_dir: Path,
        log=print,
        video: VideoSession | None = None,
        concept: ConceptSession | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.video = video
        self.concept = concept
        self.out_dir = Path(out_dir)
        self.lock = threading.Lock()
        self.log = log
        self.saves = 0  # masks saved in this session (each save's files are written whole)

    def info(self) -> dict:
        return {
            "model": self.segmenter.description,
            "demos": [f"demo-val-{i:04d}" for i in range(DEMO_IMAGES)],
            "out_dir": str(self.out_dir),
            "video": self.video is not None,
            "concept": self.concept is not None,
        }

    def session(self) -> VideoSession:
        if self.video is None:
            raise AppError("no video: start the app with --video VIDEO (a file or frames folder)")
        return self.video

    def video_call(self, what: str, body: dict):
        """One VideoSession call under the lock (a frame's masks without it while a propagation
        runs, so the page shows them as they come), logged; `body` a json request or a query."""
        session = self.session()
        if not isinstance(body, dict):
            raise AppError("the request must be a json object")
        calls = {
            "click": lambda: session.click(
                body.get("frame"), body.get("object"),
                {k: body[k] for k in ("point", "box") if k in body},
            ),
            "propagate": lambda: session.propagate(body.get("direction", "both")),
            "text": lambda: session.prompt_text(
                body.get("frame"), body.get("text"), body.get("settings")),
            "pick": lambda: session.pick(body.get("frame"), body.get("point")),
            "undo": session.undo,
            "remove": lambda: session.remove_object(body.get("object")),
            "reset": session.reset,
            "masks": lambda: session.frame_masks(query_frame(body)),
        }
        if what in ("masks", "pick") and session.progress.running:
            return calls[what]()  # propagation only adds frames' masks
        start = time.perf_counter()
        with self.lock:
            answer = calls[what]()
        if what != "masks":
            self.log(f"video {what}: answered in {time.perf_counter() - start:.3f} s")
        return answer

    def open_image(self, image: np.ndarray, name: str, note: str = "") -> dict:
        """Embed an image; its record for the page (`note`: a line the page shows with it)."""
        with self.lock:
            record = self.segmenter.set_image(image, name)
            if self.concept is not None:
                self.concept.remember(record["image_id"], image, name)
        h, w = image.shape[:2]
        how = "already embedded" if record["cached"] else f"embedded in {record['encode_s']:.3f} s"
        self.log(f"image {name} ({w} x {h}): {how}" + (f"; note: {note}" if note else ""))
        fmt = ".png" if h * w <= 2_000_000 else ".jpg"
        return {**record, "name": name, "width": w, "height": h, "note": note,
                "image": data_url(image, fmt)}

    def demo(self, query: dict) -> dict:
        try:
            index = int(query.get("index", ["0"])[0])
        except ValueError:
            index = -1
        if not 0 <= index < DEMO_IMAGES:
            raise AppError(f"demo index must be 0..{DEMO_IMAGES - 1}")
        image, _ = make_demo_sample(0, "val", index, *DEMO_SIZE)
        return self.open_image(image, f"demo-val-{index:04d}")

    def _segment(self, body: dict):
        if not isinstance(body, dict):
            raise AppError("the request must be a json object")
        options = Options(refine=bool(body.get("refine", True)),
                          hq_token_only=bool(body.get("hq_token_only", False)))
        image_id = str(body.get("image_id", ""))
        with self.lock:
            result, spent = self.segmenter.segment(image_id, body.get("steps"), options)
            name = self.segmenter.entry(image_id)["name"]
        return result, spent, name

    def segment(self, body: dict) -> dict:
        start = time.perf_counter()
        result, spent, name = self._segment(body)
        sides = {
            side: {"mask": data_url(r.mask.astype(np.uint8) * 255), "iou": r.iou,
                   "area": int(r.mask.sum())}
            for side, r in (("hq", result.hq), ("sam", result.sam))
        }
        total = time.perf_counter() - start
        self.log(f"{name}: {len(body['steps'])} prompt(s), decoded in {spent * 1000:.1f} ms, "
                 f"answered in {total * 1000:.1f} ms")
        return {**sides, "multimask": result.multimask, "decode_ms": spent * 1000,
                "answer_ms": total * 1000, "prompt_file": self.prompt_file(body)}

    def prompt_file(self, body: dict) -> dict:
        return prompt_of([(next(iter(s)), next(iter(s.values()))) for s in body["steps"]])

    def save(self, body: dict) -> dict:
        result, _, name = self._segment(body)
        out = self.out_dir.resolve()
        stem = free_stem(out, safe_stem(name), IMAGE_SAVE)
        files = {
            out / f"{stem}_mask.png": result.hq.mask,
            out / f"{stem}_sam_mask.png": result.sam.mask,
        }
        with write_errors(out):
            out.mkdir(parents=True, exist_ok=True)
        prompts = out / f"{stem}.json"
        with all_or_none([]) as written:  # a full disk midway leaves none of the save's files
            for path, mask in files.items():
                ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
                if not ok:
                    raise RuntimeError(f"could not encode {path.name} as PNG")
                written.append(path)
                atomic_write_bytes(path, data)
            written.append(prompts)
            atomic_write_text(prompts, json.dumps(self.prompt_file(body)) + "\n")
        saved = [str(p) for p in [*files, prompts]]
        self.saves += 1
        self.log(f"saved {', '.join(saved)}")
        return {"saved": saved}

    def text_mode(self) -> ConceptSession:
        if self.concept is None:
            raise AppError("no text mode: start the app with a SAM 3 checkpoint that holds the "
                           "concept detector and --bpe MERGES_FILE")
        return self.concept

    def find_concept(self, body) -> dict:
        """Every instance of the request's concept: score, box, the decoder's IoU, mask PNG."""
        start = time.perf_counter()
        with self.lock:
            request, found, spent = self.text_mode().predict(body)
        scores = found.mask_scores
        instances = [
            {"score": float(found.scores[i]), "box": found.boxes[i].tolist(),
             "mask_score": None if scores is None else float(scores[i]),
             "mask": data_url(found.masks[i].astype(np.uint8) * 255)}
            for i in range(len(found))
        ]
        total = time.perf_counter() - start
        self.log(f"concept {request['text']!r} ({len(request['exemplar_boxes'] or [])} "
                 f"exemplar(s), threshold {request['threshold']}): {len(found)} instance(s), "
                 f"found in {spent:.3f} s, answered in {total:.3f} s")
        return {"instances": instances, "find_ms": spent * 1000, "answer_ms": total * 1000}

    def save_concept(self, body) -> dict:
        with self.lock:
            saved = [str(p) for p in self.text_mode().save(body, self.out_dir)]
        self.saves += 1
        self.log(f"saved {', '.join(saved)}")
        return {"saved": saved}


def query_frame(query: dict) -> int | str:
    """?index=i as an int (a bad one is passed on as text for the session to name)."""
    text = query.get("index", [""])[0]
    try:
        return int(text)
    except ValueError:
        return text
