// The page: generate, explore, reconstruct and transfer, and write a number, each a form or an input wired to
// one API call.

import { getJSON, postFile, postJSON, useApiKey } from "./api.js";
import { createPad } from "./pad.js";

const $ = (id) => document.getElementById(id);
const pngSource = (base64) => `data:image/png;base64,${base64}`;
// A square grid, as /v1/sample.png makes by default.
const gridColumns = (count) => Math.ceil(Math.sqrt(count));

// Runs `task` with the section marked busy; its error, if any, becomes the text of the section's alert,
// and `clear` takes away the previous result, which no longer answers what was asked.
async function withErrorsIn(alert, section, task, clear) {
  alert.hidden = true;
  section.setAttribute("aria-busy", "true");
  try {
    await task();
  } catch (error) {
    clear();
    alert.textContent = error.message;
    alert.hidden = false;
  } finally {
    section.removeAttribute("aria-busy");
  }
}

function showImages(container, images, describe) {
  container.replaceChildren(
    ...images.map((base64, i) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = pngSource(base64);
      img.alt = describe(i);
      figure.append(img);
      return figure;
    }),
  );
}

function selectedDigit() {
  return Number(document.querySelector(".digit[aria-pressed=true]").dataset.digit);
}

// Models --------------------------------------------------------------------------------------------------
// The digits model's buttons are in the page; another model (GET /v1/models) brings its own classes.

let models = [];
let defaultModel;
let chosenModel; // undefined: the service's default, and no `model` field is sent
const shownModel = () => models.find((m) => m.name === (chosenModel ?? defaultModel));
const className = (label) => shownModel()?.class_names[label] ?? `${label}`;
// Whether a model's classes are named by their numbers, as the digits model's are.
const namesDigits = (model) => model.class_names.every((name, i) => name === `${i}`);

function wireClassButtons() {
  for (const button of document.querySelectorAll(".digit")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".digit")) other.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-pressed", "true");
      generateForm.requestSubmit();
    });
  }
}

function showClasses(model) {
  const buttons = model.class_names.map((name, label) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "digit";
    button.dataset.digit = `${label}`;
    button.setAttribute("aria-pressed", `${label === 0}`);
    button.textContent = name;
    return button;
  });
  const digits = namesDigits(model);
  document.querySelector(".digits").replaceChildren(...buttons);
  document.querySelector(".digits").classList.toggle("named", !digits);
  $("classes-legend").textContent = digits ? "Digit" : "Class";
  showWords(digits);
  wireClassButtons();
}

// The page's sentences about digits, or (data-other) about the classes of a model of other things.
function showWords(digits) {
  for (const element of document.querySelectorAll("[data-other]")) {
    element.dataset.digits ??= element.textContent;
    element.textContent = digits ? element.dataset.digits : element.dataset.other;
  }
}

// The served models, asked at load and again once an API key is entered (without one a keyed service
// answers 401, and the page offers the digits only); whether the list came.
async function loadModels() {
  const listing = await getJSON("/v1/models").catch(() => null);
  if (!listing) return false;
  showNumberCard(listing.models.find((model) => model.name === listing.default));
  if (listing.models.length < 2) return true;
  models = listing.models;
  defaultModel = listing.default;
  $("model").replaceChildren(
    ...models.map((model) => new Option(`${model.name} (${model.class_names.length} classes)`, model.name)),
  );
  $("model").value = chosenModel ?? listing.default;
  $("model-choice").hidden = false;
  return true;
}

$("model").addEventListener("change", (event) => {
  chosenModel = event.target.value === defaultModel ? undefined : event.target.value;
  showClasses(models.find((m) => m.name === event.target.value));
  showNumberCard(models.find((m) => m.name === event.target.value));
  startOver();
});

// Under another model every result on the page answers a question no longer asked: each card is cleared
// (answers still on their way are not shown), the cards that open filled are filled again, and your digit,
// drawn or uploaded, is read again by the model now chosen.
function startOver() {
  latestGeneration++;
  latestAnalysis++;
  clearGrid();
  $("strip").replaceChildren();
  for (const alert of ["generate-error", "explore-error", "reconstruct-error"]) $(alert).hidden = true;
  const upload = lastUpload;
  hideReading();
  if (upload) analyse(upload);
  generateForm.requestSubmit();
  exploreForm.requestSubmit();
}

// Generate ------------------------------------------------------------------------------------------------

const generateForm = $("generate-form");
wireClassButtons();
loadModels();

$("temperature").addEventListener("input", (event) => {
  $("temperature-value").value = Number(event.target.value).toFixed(1);
});

function clearGrid() {
  $("grid").replaceChildren();
  $("seed-used").textContent = "";
  $("download").hidden = true;
}

// Each click on a class asks again; only the latest answer is shown, whatever order they arrive in.
let latestGeneration = 0;

generateForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const generation = ++latestGeneration;
  const digit = selectedDigit();
  const seed = $("seed").value === "" ? null : Number($("seed").value);
  const n = Number($("count").value);
  const request = { model: chosenModel, label: digit, n, seed, temperature: Number($("temperature").value) };
  withErrorsIn($("generate-error"), $("generate"), async () => {
    const result = await postJSON("/v1/sample", request);
    if (generation !== latestGeneration) return;
    showImages($("grid"), result.images, (i) => `Generated ${className(digit)}, number ${i + 1}`);
    $("grid").style.setProperty("--columns", gridColumns(result.images.length));
    $("seed-used").textContent = `Seed used: ${result.seed} (enter it as the seed to get these again)`;
    await offerDownload(`${downloadName(digit)}-seed-${result.seed}.png`);
  }, clearGrid);
});

// "digit-7" for the digits; another model's class by its name ("cvae-fashion-sneaker").
function downloadName(label) {
  const model = shownModel();
  const digits = !model || namesDigits(model);
  if (digits) return `digit-${label}`;
  return `${model.name}-${className(label)}`.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

// The grid as one PNG, drawn from the images on the page, so the file holds exactly what is shown.
async function offerDownload(filename) {
  const images = [...$("grid").querySelectorAll("img")];
  await Promise.all(images.map((img) => img.decode()));
  const size = images[0].naturalWidth;
  const columns = gridColumns(images.length);
  const canvas = document.createElement("canvas");
  canvas.width = columns * size;
  canvas.height = Math.ceil(images.length / columns) * size;
  const context = canvas.getContext("2d");
  images.forEach((img, i) => context.drawImage(img, (i % columns) * size, Math.floor(i / columns) * size));
  const link = $("download");
  link.href = canvas.toDataURL("image/png");
  link.download = filename;
  link.hidden = false;
}

// Explore -------------------------------------------------------------------------------------------------

const EXPLORE_FIELDS = { seeds: ["From seed", "To seed"], steps: "Steps", model: "Model" };

const exploreForm = $("explore-form");
exploreForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const digit = selectedDigit();
  const request = {
    model: chosenModel,
    label: digit,
    seeds: [Number($("seed-from").value), Number($("seed-to").value)],
    steps: Number($("steps").value),
  };
  withErrorsIn($("explore-error"), $("explore"), async () => {
    const result = await postJSON("/v1/interpolate", request, EXPLORE_FIELDS);
    showImages($("strip"), result.images, (i) => `${className(digit)}, step ${i + 1} of ${result.steps}`);
  }, () => $("strip").replaceChildren());
});

// Reconstruct and transfer --------------------------------------------------------------------------------

// Each stroke sends the drawing again; only the latest answer is shown, whatever order they arrive in.
let latestAnalysis = 0;

// The drawing or file last sent to be read, while its reading stands; null once cleared.
let lastUpload = null;

function analyse(file) {
  lastUpload = file;
  const analysis = ++latestAnalysis;
  withErrorsIn($("reconstruct-error"), $("reconstruct"), async () => {
    const [reading, transfer] = await Promise.all([
      postFile("/v1/reconstruct", file, { model: chosenModel }),
      postFile("/v1/transfer", file, { model: chosenModel }),
    ]);
    if (analysis !== latestAnalysis) return;
    showReading(reading);
    keepYourStyle(reading.mu);
    showImages($("transfer-images"), transfer.images, (label) => `Your style as ${className(label)}`);
  }, hideReading);
}

function hideReading() {
  lastUpload = null;
  $("analysis").hidden = true;
  $("transfer-images").replaceChildren();
  keepYourStyle(null);
}

function argmax(values) {
  return values.indexOf(Math.max(...values));
}

function showReading(reading) {
  $("input-image").src = pngSource(reading.input);
  $("reconstruction").src = pngSource(reading.reconstruction);
  $("predicted").textContent = reading.class_name;
  $("not-like-training").hidden = reading.is_digit !== false;
  $("ood-score").textContent = `out-of-distribution score ${reading.ood_score?.toFixed(1)}.`;
  const notes = reading.notes ?? [];
  $("preprocessing-notes").hidden = notes.length === 0;
  $("preprocessing-notes").replaceChildren(
    ...notes.map((note) => {
      const item = document.createElement("li");
      item.textContent = `Your upload: ${note}.`;
      return item;
    }),
  );
  const elboChoice = reading.elbo_probabilities && argmax(reading.elbo_probabilities);
  $("estimates-disagree").hidden = elboChoice === null || elboChoice === reading.digit;
  $("elbo-choice").textContent = elboChoice === null ? "" : className(elboChoice);
  $("probabilities").replaceChildren(
    ...reading.probabilities.map((p, digit) => {
      const item = document.createElement("li");
      const track = document.createElement("span");
      const bar = document.createElement("span");
      track.className = "track";
      bar.className = "bar";
      bar.style.width = `${(100 * p).toFixed(1)}%`;
      track.append(bar);
      // Elements, not bare text: the rows share one grid (style.css), where neighbouring text would run together.
      const name = document.createElement("span");
      const share = document.createElement("span");
      name.textContent = className(digit);
      share.textContent = `${(100 * p).toFixed(1)}%`;
      item.append(name, track, share);
      item.classList.toggle("chosen", digit === reading.digit);
      return item;
    }),
  );
  $("latent-mean").replaceChildren(
    ...reading.mu.map((value) => {
      const item = document.createElement("li");
      item.textContent = value.toFixed(2);
      return item;
    }),
  );
  $("analysis").hidden = false;
}

const pad = createPad($("pad"), async () => analyse(await pad.toFile()));

// The drawing, the chosen file and the reading of either taken away.
function clearUpload() {
  pad.clear();
  $("file").value = "";
  $("reconstruct-error").hidden = true;
  hideReading();
}

$("clear").addEventListener("click", () => {
  latestAnalysis++; // an answer still on its way is for the drawing just cleared
  clearUpload();
});
// A file read replaces the drawing: the pad is cleared, so what is shown is what was read.
$("file").addEventListener("change", (event) => {
  if (!event.target.files.length) return;
  pad.clear();
  analyse(event.target.files[0]);
});
$("pad").addEventListener("dragover", (event) => event.preventDefault());
$("pad").addEventListener("drop", (event) => {
  event.preventDefault();
  if (!event.dataTransfer.files.length) return;
  pad.clear();
  $("file").value = "";
  analyse(event.dataTransfer.files[0]);
});

// Write a number ------------------------------------------------------------------------------------------
// In the seed's style, or in the style of the digit read in Reconstruct; only a model whose classes are the
// digits 0 to 9 writes numbers (POST /v1/number answers any other a 422).

const NUMBER_FIELDS = { text: "Number", seed: "Seed", z: "Your style", model: "Model" };
const NUMBER_SCALE = 4; // screen pixels a pixel of the number, as the card's width allows

// The latent mean μ of the digit read in Reconstruct, by the model now chosen (a change of model reads it
// again), while its reading is shown: the style "In my style" writes in. null when there is none.
let yourStyle = null;
// Each Write asks again; only the latest answer is shown, whatever order they arrive in.
let latestNumber = 0;

function keepYourStyle(mu) {
  yourStyle = mu;
  $("my-style").disabled = mu === null;
  if (mu === null) $("my-style").checked = false;
}

function showNumberCard(model) {
  const writes = model.class_names.length === 10 && namesDigits(model);
  $("number-fields").disabled = !writes;
  $("number-unavailable").textContent = writes
    ? ""
    : `${model.name} does not write numbers: its classes are not the digits 0 to 9.`;
  $("number-unavailable").hidden = writes;
  if (writes) return;
  latestNumber++; // an answer still on its way is not shown under this model
  $("number-error").hidden = true;
  clearNumber();
}

// Digits only as they are typed; a paste is taken as it is, and the service's answer says what is wrong.
$("number-text").addEventListener("beforeinput", (event) => {
  if (event.inputType === "insertText" && /\D/.test(event.data)) event.preventDefault();
});

function clearNumber() {
  $("number-result").hidden = true;
  $("number-image").removeAttribute("src");
  $("number-seed-used").textContent = "";
  $("number-download").hidden = true;
}

$("number-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const asked = ++latestNumber;
  const text = $("number-text").value;
  const seed = $("number-seed").value === "" ? null : Number($("number-seed").value);
  const z = $("my-style").checked ? yourStyle : null;
  withErrorsIn($("number-error"), $("number"), async () => {
    const request = { model: chosenModel, text, seed, z: z ?? undefined };
    const result = await postJSON("/v1/number", request, NUMBER_FIELDS);
    if (asked !== latestNumber) return;
    await showNumber(result, z !== null);
  }, clearNumber);
});

// The number enlarged, its pixels kept square and sharp; the download is the PNG the service sent.
async function showNumber(result, styled) {
  const img = $("number-image");
  img.src = pngSource(result.image);
  const style = styled ? "your digit's style" : `the style of seed ${result.seed}`;
  img.alt = `${result.text}, written in ${style}`;
  $("number-result").hidden = false;
  await img.decode();
  img.style.width = `${NUMBER_SCALE * img.naturalWidth}px`;
  const again = styled ? "and keep In my style checked to get this again" : "to get this again";
  $("number-seed-used").textContent = `Seed used: ${result.seed} (enter it as the seed ${again})`;
  const link = $("number-download");
  link.href = img.src;
  link.download = `number-${result.text}-seed-${result.seed}${styled ? "-my-style" : ""}.png`;
  link.hidden = false;
}

$("api-key").addEventListener("input", (event) => useApiKey(event.target.value));
// A key entered: the models a keyed service would not list before, and the cards filled again.
$("api-key").addEventListener("change", async () => {
  if (await loadModels()) startOver();
});

// The page opens on samples of the digit chosen and a walk between two seeds, not on empty cards.
generateForm.requestSubmit();
exploreForm.requestSubmit();
