// Demo page of the exposure-gan service: plain browser APIs, no build step.
// Talks to POST correct and POST simulate-overexposure with FormData (paths relative to the
// page, so the demo also works behind a proxy that serves the service under a prefix).
"use strict";

const GAMMA = 1 / 2.2;
const EXTENSIONS = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };

const $ = (id) => document.getElementById(id);
const el = {
  file: $("file"), drop: $("drop"), format: $("format"),
  tau: $("tau"), tauValue: $("tau-value"), tauHint: $("tau-hint"),
  ev: $("ev"), evAuto: $("ev-auto"), evValue: $("ev-value"), evHint: $("ev-hint"),
  simulate: $("simulate"), reset: $("reset"), status: $("status"),
  original: $("original"), originalCaption: $("original-caption"), corrected: $("corrected"),
  compare: $("compare"), before: $("compare-before"), after: $("compare-after"),
  line: $("compare-line"), slider: $("compare-slider"),
  download: $("download"), timing: $("timing"), auth: $("auth"), apiKey: $("api-key"),
};

const state = {
  photo: null,      // the file the user picked
  input: null,      // what gets corrected: the photo or its simulated overexposure
  urls: { input: null, corrected: null },
  busy: false,
};

function setStatus(text, kind = "") {
  el.status.textContent = text;
  el.status.className = "status" + (kind ? " " + kind : "");
}

function replaceUrl(key, blob) {
  if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
  state.urls[key] = blob ? URL.createObjectURL(blob) : null;
  return state.urls[key];
}

function baseName(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name || "photo";
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

async function post(path, fields) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (value !== "" && value !== null && value !== undefined) form.append(key, value);
  }
  // A service started with EXPOSURE_API_KEYS wants a key: asked for after its first 401.
  const key = el.apiKey.value.trim();
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  const response = await fetch(path, { method: "POST", body: form, headers });
  if (response.status === 401) {
    el.auth.hidden = false;
    el.apiKey.focus();
    throw new Error(key ? "the API key was not accepted" : "this service needs an API key: enter it above");
  }
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    const suffix = retry ? ` (retry in ${retry} s)` : "";
    throw new Error(`${await errorMessage(response)}${suffix}`);
  }
  return response;
}

// What /correct says it took back: "-1.25 EV, estimated" or "-1.00 EV, as set".
function evNote(response) {
  const ev = response.headers.get("X-Exposure-EV");
  if (ev === null) return "";
  const source = response.headers.get("X-Exposure-EV-Source");
  if (Number(ev) === 0) return ", not overexposed: left as it was";
  return `, -${Number(ev).toFixed(2)} EV ${source === "client" ? "as set" : "estimated"}`;
}

// The request's ev: nothing (the model estimates) or the slider's stops.
function evField() {
  return el.evAuto.checked ? "" : el.ev.value;
}

function updateEv() {
  el.ev.disabled = el.evAuto.checked;
  el.evValue.textContent = el.evAuto.checked ? "auto" : `${Number(el.ev.value).toFixed(2)} EV`;
  el.evHint.textContent = el.evAuto.checked
    ? "The model estimates how many stops too bright the photo is."
    : `Takes back ${Number(el.ev.value).toFixed(2)} stops of overexposure.`;
}

function setBusy(busy) {
  state.busy = busy;
  el.simulate.disabled = busy || !state.photo;
  el.reset.disabled = busy;
  el.file.disabled = busy;
  document.body.classList.toggle("busy", busy);
}

function showInput(blob, caption) {
  state.input = blob;
  const url = replaceUrl("input", blob);
  el.original.src = url;
  el.before.src = url;
  el.originalCaption.textContent = caption;
}

async function correct() {
  if (!state.input) return;
  setBusy(true);
  setStatus("Correcting…");
  el.download.hidden = true;
  el.timing.textContent = "";
  const started = performance.now();
  try {
    const response = await post("correct", { image: state.input, format: el.format.value, ev: evField() });
    const blob = await response.blob();
    const url = replaceUrl("corrected", blob);
    el.corrected.src = url;
    el.after.src = url;
    const ext = EXTENSIONS[blob.type] || "img";
    el.download.href = url;
    el.download.download = `${baseName(state.photo.name)}-corrected.${ext}`;
    el.download.hidden = false;
    const ms = Math.round(performance.now() - started);
    el.timing.textContent = `${(blob.size / 1024).toFixed(0)} KiB ${ext.toUpperCase()}, ${ms} ms${evNote(response)}`;
    setStatus("Done.", "ok");
    document.body.classList.add("has-result");
  } catch (err) {
    setStatus(`Could not correct: ${err.message}`, "error");
  } finally {
    setBusy(false);
  }
}

async function simulateThenCorrect() {
  if (!state.photo) return;
  const tau = Number(el.tau.value);
  setBusy(true);
  setStatus(`Overexposing with τ = ${tau.toFixed(2)}…`);
  try {
    const format = el.format.value || "png";  // lossless: compression would hide clipping
    const blob = await (await post("simulate-overexposure", { image: state.photo, tau, gamma: GAMMA, format })).blob();
    showInput(blob, `Overexposed (τ = ${tau.toFixed(2)})`);
    el.reset.hidden = false;
  } catch (err) {
    setStatus(`Could not overexpose: ${err.message}`, "error");
    setBusy(false);
    return;
  }
  setBusy(false);
  await correct();
}

function usePhoto(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    setStatus(`${file.name} is not an image (JPEG, PNG or WebP expected).`, "error");
    return;
  }
  state.photo = file;
  el.reset.hidden = true;
  showInput(file, "Input");
  correct();
}

function updateTau() {
  const tau = Number(el.tau.value);
  const gain = Math.pow(tau, -GAMMA);
  el.tauValue.textContent = tau.toFixed(2);
  el.tauHint.textContent = tau >= 1
    ? "τ = 1 leaves the photo unchanged"
    : `+${Math.log2(1 / tau).toFixed(1)} EV: values above ${Math.round(100 / gain)}% clip to white`;
}

function updateCompare() {
  const pos = Number(el.slider.value);
  el.before.style.clipPath = `inset(0 ${100 - pos}% 0 0)`;
  el.line.style.left = `${pos}%`;
}

el.file.addEventListener("change", () => usePhoto(el.file.files[0]));
el.simulate.addEventListener("click", simulateThenCorrect);
el.reset.addEventListener("click", () => {
  el.reset.hidden = true;
  showInput(state.photo, "Input");
  correct();
});
el.format.addEventListener("change", () => { if (state.input && !state.busy) correct(); });
el.tau.addEventListener("input", updateTau);
el.evAuto.addEventListener("change", () => { updateEv(); if (state.input && !state.busy) correct(); });
el.ev.addEventListener("input", updateEv);
el.ev.addEventListener("change", () => { if (state.input && !state.busy) correct(); });
el.apiKey.addEventListener("change", () => { if (state.input && !state.busy) correct(); });
el.slider.addEventListener("input", updateCompare);
el.after.addEventListener("load", () => {
  // The comparison takes the photo's shape, so neither side is letterboxed differently.
  if (el.after.naturalWidth && el.after.naturalHeight) {
    el.compare.style.aspectRatio = `${el.after.naturalWidth} / ${el.after.naturalHeight}`;
  }
});

for (const type of ["dragenter", "dragover"]) {
  el.drop.addEventListener(type, (event) => { event.preventDefault(); el.drop.classList.add("over"); });
}
for (const type of ["dragleave", "drop"]) {
  el.drop.addEventListener(type, () => el.drop.classList.remove("over"));
}
el.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  usePhoto(event.dataTransfer.files[0]);
});

updateTau();
updateEv();
updateCompare();
