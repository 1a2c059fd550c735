"""The app's local web server: one page (page.html) and a small json API over a Segmenter (the
answers: api.py's App).

    GET  /                  the page
    GET  /api/info          the model and the demo images
    GET  /api/demo?index=i  embed demo image i           -> image record
    POST /api/image         embed the uploaded file body -> image record
    POST /api/segment       {image_id, steps, refine, hq_token_only} -> both masks, IoUs, times
    POST /api/save          same body: write <stem>_mask.png, <stem>_sam_mask.png, <stem>.json
                            (predict's prompt file) into the output folder, nothing elsewhere

With --bpe (the text mode, concept.py; /api/info says "concept": true):

    POST /api/concept       {image_id, text, exemplars: [{box, label}], threshold} -> instances
                            (score, box, mask_score, mask PNG), in the detector's order
    POST /api/concept/save  same body: samhq-concept's files under a new stem in the output folder

With a video (samhq-app --video; the page is then video.html, the image page /image):

    GET  /api/video                  the video: frames, size, names, objects, tracked frames
    GET  /api/video/frame?index=i    frame i as a JPEG
    GET  /api/video/masks?index=i    frame i's latest masks (indexed PNG) and clicks
    GET  /api/video/progress         the running propagation's pass and frames done
    GET  /api/video/masks.zip        every frame's masks as samhq-video writes them, zipped
    POST /api/video/click            {frame, object, point: [x, y, label] | box: [x0, y0, x1, y1]}
                                     (text mode: points on the text's objects, any unused id new)
    POST /api/video/propagate        {direction: forward | backward | both}
    POST /api/video/undo | /remove {object} | /reset
    POST /api/video/pick             {frame, point: [x, y]} -> {object}: the object drawn there
    POST /api/video/text             {frame, text, settings}: SAM 3's video concept model on the
                                     text (with --bpe and the detector); its objects replace the
                                     clicked ones until /reset; settings (optional): the page's
                                     thresholds, {score_threshold_detection, new_det_thresh}

A problem the user can fix (a UserError) is a 400 with {"error": one line}, printed on the console
too (410 for an image id no longer kept: the page sends its image again and repeats the
request); any other exception is a 500 with a one-line pointer to the console, which gets the
traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from samhq_train.errors import UserError
from samhq_train.image_header import ImageFileError, ImageMemoryError, ImageSource, checked_header
from samhq_train.imaging import read_image_bytes

from .api import App, query_frame
from .engine import AppError, safe_stem

PAGE = Path(__file__).with_name("page.html")
VIDEO_PAGE = Path(__file__).with_name("video.html")
COMMON_SCRIPT = Path(__file__).with_name("common.js")  # both pages' shared functions
CONCEPT_SCRIPT = Path(__file__).with_name("concept.js")  # the image page's text mode
# the request body is read into memory before its header can be checked: this bounds that read
# (the pixel limit, imaging's, bounds the decoded image)
MAX_UPLOAD = 64 * 2**20
MAX_JSON = 2**20


def decode_upload(data: bytes, name: str) -> np.ndarray:
    """H x W x 3 uint8 RGB from an uploaded file's bytes, read as imaging.read_image reads a
    file (the same pixels and refusals; at most image_header.max_image_pixels(), checked from the
    header before decoding); AppError naming the file otherwise."""
    try:
        return read_image_bytes(data, name)
    except (ImageFileError, ImageMemoryError) as err:
        raise AppError(str(err)) from None


def upload_note(data: bytes, name: str) -> str:
    """The page's note on a decoded upload whose EXIF orientation asks viewers to turn it (the
    pixels, shown, clicked and masked, are the stored ones, as samhq-predict's), or ""."""
    header = checked_header(data, ImageSource(name), 0)  # decoded already: no limit to check
    note = header.orientation_note if header is not None else ""
    return f"{name} {note}" if note else ""


class Handler(BaseHTTPRequestHandler):
    app: App  # set on the subclass made by make_server

    def log_message(self, format, *args):  # requests are logged by App, errors by _reply
        pass

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        first = VIDEO_PAGE if self.app.video is not None else PAGE
        routes = {
            "/": lambda: self._send(200, first.read_bytes(), "text/html; charset=utf-8"),
            "/image": lambda: self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8"),
            "/common.js": lambda: self._send(200, COMMON_SCRIPT.read_bytes(),
                                             "text/javascript; charset=utf-8"),
            "/concept.js": lambda: self._send(200, CONCEPT_SCRIPT.read_bytes(),
                                              "text/javascript; charset=utf-8"),
            "/api/info": lambda: self._json(200, self.app.info()),
            "/api/demo": lambda: self._json(200, self.app.demo(query)),
            "/api/video": lambda: self._json(200, self.app.session().info()),
            "/api/video/frame": lambda: self._send(
                200, self.app.session().frame_jpeg(query_frame(query)), "image/jpeg"),
            "/api/video/masks": lambda: self._json(200, self.app.video_call("masks", query)),
            "/api/video/progress": lambda: self._json(200, vars(self.app.session().progress)),
            "/api/video/masks.zip": self._masks_zip,
        }
        self._reply(routes.get(url.path))

    def _masks_zip(self):
        with self.app.lock:
            data = self.app.session().zip_bytes()
        stem = safe_stem(self.app.video.video.source.name)
        self._send(200, data, "application/zip",
                   {"Content-Disposition": f'attachment; filename="{stem}_masks.zip"'})

    def do_POST(self):
        url = urlparse(self.path)
        routes = {
            "/api/image": self._upload,
            "/api/segment": lambda: self._json(200, self.app.segment(self._body_json())),
            "/api/save": lambda: self._json(200, self.app.save(self._body_json())),
            "/api/concept": lambda: self._json(200, self.app.find_concept(self._body_json())),
            "/api/concept/save": lambda: self._json(
                200, self.app.save_concept(self._body_json())),
        }
        for what in ("click", "pick", "text", "propagate", "undo", "remove", "reset"):
            routes[f"/api/video/{what}"] = lambda what=what: self._json(
                200, self.app.video_call(what, self._body_json()))
        self._reply(routes.get(url.path))

    def _reply(self, route):
        if route is None:
            self._json(404, {"error": f"no such page: {self.path}"})
            return
        try:
            route()
        except UserError as err:  # AppError, or the video predictor's own (VideoPromptError)
            self.app.log(f"error: {err}")
            self._json(getattr(err, "http_status", 400), {"error": str(err)})
        except Exception as err:  # a bug: traceback on the console, one line in the page
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error ({type(err).__name__}); the traceback is "
                                      "on the server console"})

    def _body(self, limit: int) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise AppError("the request has no valid Content-Length")
        if length > limit:
            raise AppError(f"the upload has {length:,} bytes; at most {limit:,} are taken")
        return self.rfile.read(length)

    def _body_json(self):
        try:
            return json.loads(self._body(MAX_JSON))
        except ValueError:
            raise AppError("the request body is not json") from None

    def _upload(self):
        name = Path(unquote(self.headers.get("X-Filename") or "upload")).name or "upload"
        data = self._body(MAX_UPLOAD)
        image = decode_upload(data, name)
        self._json(200, self.app.open_image(image, name, upload_note(data, name)))

    def _json(self, status: int, payload: dict):
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def make_server(app: App | None, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for `app` on host:port (port 0: a free one; see server.server_address); app None:
    set server.RequestHandlerClass.app before serving."""
    handler = type("AppHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
