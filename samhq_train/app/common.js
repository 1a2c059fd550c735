"use strict";
// What both pages of samhq-app use (served as /common.js before each page's own script).
const $ = (id) => document.getElementById(id);

function message(text, isError) {
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
}

async function fetchJson(path, options) {  // the server's answer, or its error line thrown
  let response;
  try { response = await fetch(path, options); }
  catch (err) { throw new Error("the server does not answer (" + err.message + "); is it running?"); }
  let body;
  try { body = await response.json(); }
  catch (err) { throw new Error("the server sent no json (status " + response.status + ")"); }
  if (!response.ok) throw new Error(body.error || ("status " + response.status));
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
