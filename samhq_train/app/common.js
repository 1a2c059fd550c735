"use strict";
// What both pages of samhq-app use (served as /common.js before each page's own script).
const $ = (id) => document.getElementById(id);

function message(text, isError) {
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
}

async function fetchJson(path, options) {  // the server's answer, or its error line thrown (.status)
  let response;
  try { response = await fetch(path, options); }
  catch (err) { throw new Error("the server does not answer (" + err.message + "); is it running?"); }
  let body;
  try { body = await response.json(); }
  catch (err) { throw new Error("the server sent no json (status " + response.status + ")"); }
  if (!response.ok) {
    throw Object.assign(new Error(body.error || ("status " + response.status)), { status: response.status });
  }
  return body;
}

function loadPicture(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show the image"));
    img.src = url;
  });
}

function imagePoint(canvas, event) {  // the event's position in the canvas's pixels
  const rect = canvas.getBoundingClientRect();  // border included: clientLeft / clientWidth
  const x = (event.clientX - rect.left - canvas.clientLeft) * canvas.width / canvas.clientWidth;
  const y = (event.clientY - rect.top - canvas.clientTop) * canvas.height / canvas.clientHeight;
  const clamp = (v, hi) => Math.round(Math.min(Math.max(v, 0), hi) * 100) / 100;
  return [clamp(x, canvas.width), clamp(y, canvas.height)];
}

// The canvas holds the image's w x h pixels, shown with its longer side at `longest` CSS px (at
// most maxScale times its size; large images shrink to fit) and its height following its width
// (the pages' CSS says height: auto), so that a max-width never changes its shape.
function showCanvasAt(canvas, w, h, longest, maxScale) {
  canvas.width = w; canvas.height = h;
  canvas.style.width = Math.round(w * Math.min(maxScale, longest / Math.max(w, h))) + "px";
  canvas.style.height = "";
}

function mode() { return document.querySelector("input[name=mode]:checked").value; }

// A click (a point: [x, y, label] from the "mode" radio; mode "pick": {pick: [x, y]}) or a drag
// (mode "box": [x0, y0, x1, y1]) on `canvas` goes to onPrompt({point}, {pick} or {box}); state.drag
// holds the box being drawn (redraw shows it); ready() says whether the page takes prompts now.
function listenForPrompts(canvas, state, ready, redraw, onPrompt) {
  const corners = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]),
                             Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  canvas.addEventListener("pointerdown", (e) => {
    if (!ready()) return;
    canvas.setPointerCapture(e.pointerId);
    state.drag = { start: imagePoint(canvas, e), box: null };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!state.drag || mode() !== "box") return;
    state.drag.box = corners(state.drag.start, imagePoint(canvas, e));
    redraw();
  });
  canvas.addEventListener("pointerup", (e) => {
    if (!state.drag) return;
    const drag = state.drag;
    state.drag = null;
    if (mode() === "pick") return onPrompt({ pick: drag.start });
    if (mode() !== "box") return onPrompt({ point: [...drag.start, Number(mode())] });
    const box = corners(drag.start, imagePoint(canvas, e));
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) { redraw(); message("drag to draw a box", false); return; }
    onPrompt({ box: box });
  });
}
