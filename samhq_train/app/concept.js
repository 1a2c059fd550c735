"use strict";
// The image page's text mode (samhq-app --bpe; after page.html's script, whose state, maskOverlay
// and stem it uses): a noun phrase, and optional example / counter-example boxes dragged on the
// instances canvas, give every instance found, each in its own colour with its box and confidence.
const conceptColours = [[230, 25, 75], [60, 180, 75], [255, 200, 0], [0, 130, 200],
  [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [150, 200, 40],
  [250, 150, 190], [0, 128, 128], [170, 110, 40]];
// asked: requests sent (a stale answer is dropped); finds: those of conceptFind (the tests wait on it)
const concept = { exemplars: [], answer: null, request: null, overlays: [], asked: 0, finds: 0,
                  drag: null };
window.conceptState = concept;

function conceptColour(i) { return conceptColours[i % conceptColours.length]; }

function conceptRedraw() {
  const canvas = $("concept-canvas"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.picture) return;
  ctx.drawImage(state.picture, 0, 0);
  const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 240));
  ctx.lineWidth = line;
  ctx.font = (6 * line) + "px system-ui, sans-serif";
  const instances = concept.answer ? concept.answer.instances : [];
  instances.forEach((found, i) => {
    const colour = "rgb(" + conceptColour(i).join(",") + ")";
    ctx.drawImage(concept.overlays[i], 0, 0);
    const [x0, y0, x1, y1] = found.box;
    ctx.strokeStyle = colour; ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.fillStyle = colour; ctx.fillText(found.score.toFixed(2), x0 + line, y0 + 7 * line);
  });
  ctx.setLineDash([4 * line, 2 * line]);
  const boxes = concept.exemplars.map((e) => [e.box, e.label]);
  if (concept.drag && concept.drag.box) boxes.push([concept.drag.box, concept.drag.label]);
  for (const [[x0, y0, x1, y1], label] of boxes) {
    ctx.strokeStyle = label === 1 ? "#19c819" : "#e02020";
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  }
  ctx.setLineDash([]);
}

function conceptRequest() {
  const threshold = $("concept-threshold-value").value;
  return { image_id: state.image.image_id, text: $("concept-text").value,
           exemplars: concept.exemplars, threshold: threshold === "" ? null : Number(threshold) };
}

// The instances as samhq-concept's json lists them, the masks named as the links download them.
function conceptRecord() {
  const r = concept.request, name = stem() + "_concept";
  return { image: state.image.name, height: state.image.height, width: state.image.width,
    text: r.text.trim() || null,
    exemplar_boxes: r.exemplars.length ? r.exemplars.map((e) => e.box) : null,
    exemplar_labels: r.exemplars.length ? r.exemplars.map((e) => e.label) : null,
    threshold: r.threshold,
    instances: concept.answer.instances.map((f, i) => ({ score: f.score, box: f.box,
      mask_score: f.mask_score, mask: name + "_" + String(i).padStart(4, "0") + ".png" })) };
}

function conceptShow() {
  const list = $("concept-list"), has = Boolean(concept.answer);
  list.replaceChildren();
  const link = $("concept-download-json");
  if (has) {
    concept.answer.instances.forEach((found, i) => {
      const item = document.createElement("li"), swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = "rgb(" + conceptColour(i).join(",") + ")";
      const mask = document.createElement("a");
      mask.id = "concept-mask-" + i; mask.className = "concept-mask"; mask.href = found.mask;
      mask.download = stem() + "_concept_" + String(i).padStart(4, "0") + ".png";
      mask.textContent = "mask PNG";
      const iou = found.mask_score === null ? "" : ", predicted IoU " + found.mask_score.toFixed(3);
      item.append(swatch, "confidence " + found.score.toFixed(3) + ", box [" +
        found.box.map((v) => v.toFixed(1)).join(", ") + "]" + iou + " ", mask);
      list.append(item);
    });
    link.href = "data:application/json," + encodeURIComponent(JSON.stringify(conceptRecord()) + "\n");
    link.download = stem() + "_concept.json"; link.classList.remove("disabled");
  } else { link.removeAttribute("href"); link.classList.add("disabled"); }
  $("concept-status").textContent = has ? concept.answer.instances.length + " instance(s), found in " +
    concept.answer.find_ms.toFixed(0) + " ms" + (concept.answer.find_ms ? "" : " (kept)") : "";
  conceptRedraw();
}

async function conceptFind() {
  if (!state.image) { message("open an image first", true); return; }
  const asked = ++concept.asked, find = ++concept.finds, request = conceptRequest();
  document.body.dataset.conceptBusy = "1";
  try {
    const answer = await withImage(() => fetchJson("/api/concept", { method: "POST",
      body: JSON.stringify(request), headers: { "Content-Type": "application/json" } }));
    const overlays = [];
    for (const [i, found] of answer.instances.entries()) {
      overlays.push(await maskOverlay(found.mask, conceptColour(i)));
    }
    if (asked !== concept.asked) return;  // a newer request is on its way
    Object.assign(concept, { answer, request, overlays });
    message("");
  } catch (err) {
    if (asked !== concept.asked) return;
    Object.assign(concept, { answer: null, request: null, overlays: [] });
    message(err.message, true);
  } finally {
    if (asked === concept.asked) {
      conceptShow();
      document.body.dataset.conceptAnswered = String(find);
      document.body.dataset.conceptBusy = "0";
    }
  }
}

function listenForExemplars(canvas) {
  const corners = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]),
                             Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  const label = () => Number(document.querySelector("input[name=exemplar]:checked").value);
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.image) return;
    canvas.setPointerCapture(e.pointerId);
    concept.drag = { start: imagePoint(canvas, e), box: null, label: label() };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!concept.drag) return;
    concept.drag.box = corners(concept.drag.start, imagePoint(canvas, e));
    conceptRedraw();
  });
  canvas.addEventListener("pointerup", (e) => {
    if (!concept.drag) return;
    const drag = concept.drag, box = corners(drag.start, imagePoint(canvas, e));
    concept.drag = null;
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) {
      conceptRedraw(); message("drag on the instances image to draw an example box", false); return;
    }
    concept.exemplars.push({ box, label: drag.label });
    conceptFind();
  });
}

document.addEventListener("image-opened", () => {
  const canvas = $("concept-canvas"), shown = $("hq-canvas");
  canvas.width = shown.width; canvas.height = shown.height;
  canvas.style.width = shown.style.width;  // its height follows (height: auto), as the panes'
  concept.asked++;  // an answer still on its way is for the previous image
  Object.assign(concept, { exemplars: [], answer: null, request: null, overlays: [] });
  document.body.dataset.conceptBusy = "0";
  conceptShow();
});

$("concept-find").onclick = conceptFind;
$("concept-text").onkeydown = (e) => { if (e.key === "Enter") conceptFind(); };
$("concept-threshold").oninput = () => { $("concept-threshold-value").value = $("concept-threshold").value; };
$("concept-threshold").onchange = () => { if (concept.answer) conceptFind(); };
$("concept-threshold-value").onchange = () => {
  $("concept-threshold").value = $("concept-threshold-value").value;
  if (concept.answer) conceptFind();
};
$("concept-clear").onclick = () => { concept.exemplars = []; if (concept.answer) conceptFind(); else conceptRedraw(); };
$("concept-save").onclick = async () => {
  if (!concept.answer) { message("nothing to save: find a concept first", true); return; }
  try {
    const saved = await withImage(() => fetchJson("/api/concept/save", { method: "POST",
      body: JSON.stringify(concept.request), headers: { "Content-Type": "application/json" } }));
    message("saved " + saved.saved.join(", "));
  } catch (err) { message(err.message, true); }
};
listenForExemplars($("concept-canvas"));
fetchJson("/api/info").then((info) => { $("concept").hidden = !info.concept; }, () => {});
