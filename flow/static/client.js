// The page's UI: the controls, the transcript, the micro-turn meter and the live edge
// table, on top of MicroturnClient (microturn.js, which speaks the protocol). Plain JS, no
// build step. State for tests and the curious: window.microturn.

import { MicroturnClient } from "./microturn.js";

const $ = (id) => document.getElementById(id);

let client = null; // the MicroturnClient of the call in progress (one per call)

const mt = window.microturn = {
  state: "disconnected", // the call's: connecting, connected, interrupted or disconnected
  session: null, heard: [], said: [], actions: [], errors: [], metrics: {}, graph: null,
  skills: [], // what the served graph's front end said it can do: [{name, examples}]
  get client() { return client; },
  get pc() { return client ? client.pc : null; },
  get dc() { return client ? client.channel : null; },
  get replyAudio() { return client ? client.replyAudio : { seconds: 0, voiced: 0, energy: 0, level: 0 }; },
};

function setStatus(state, text, cls) {
  mt.state = state;
  $("status").textContent = text;
  $("status").className = "status " + (cls || "");
  enableSending(state);
}

// The box takes text while the call is up, even interrupted (it says then that it cannot
// send, and keeps the text); a suggestion sends at once, so it works only when connected.
function enableSending(state) {
  $("text").disabled = $("send").disabled = state !== "connected" && state !== "interrupted";
  for (const b of $("suggestions").querySelectorAll("button")) b.disabled = state !== "connected";
}

const INTRO = {
  before: "Connect, then talk or type. Talking while the assistant speaks interrupts it.",
  plain: "Talk or type. Talking while the assistant speaks interrupts it.",
  skills: "Talk or type; try one of these. Talking while the assistant speaks interrupts it.",
  ended: "The call ended. Connect to talk or type again.",
};

// A consequence (the session closed, the channel closed) never hides the error that
// caused it: with `weak`, the message is recorded but shown only if nothing else is.
function showError(text, { weak = false } = {}) {
  mt.errors.push(text);
  if (weak && !$("error").hidden) return;
  $("error").textContent = text;
  $("error").hidden = false;
  fitFooter();
}

// The error footer is fixed at the bottom of the window: the page keeps room for it
// (style.css), so that it covers neither the end of the page nor the text box scrolled
// into view above it.
function fitFooter() {
  document.documentElement.style.setProperty("--footer-h", $("error").offsetHeight + "px");
}
window.addEventListener("resize", fitFooter); // its text may wrap to more lines

// The text box and its note, in sight: text put back in the box is for the user to see.
function showTypedNote() {
  $("typed").scrollIntoView({ block: "nearest" }); // from below: to the top, note under it
  $("typed-note").scrollIntoView({ block: "nearest" }); // from above: the note too
}

// -- transcript ---------------------------------------------------------------------------

let partialHeard = null; // <li> of the current partial hypothesis
let openSaid = null;     // <li> of the reply being said
let lastHeardTyped = false; // what the user said last was typed (the echo of a line sent)
let lastSaid = null;     // <li> of the last reply
const AUDIBLE_MS = 1000; // a reply whose audio played this recently was still being said

// Screen readers hear finals only, from a region of their own: partials rewrite the
// transcript every 200 ms, which a live transcript would read out over and over.
function announce(text) {
  const p = document.createElement("p");
  p.textContent = text;
  $("announce").append(p);
  while ($("announce").childElementCount > 3) $("announce").firstElementChild.remove();
}

// A new call starts clean: a hypothesis never confirmed goes, a reply still open is marked
// as cut off, and the transcript says where the call ended.
function resetTranscript() {
  if (partialHeard) partialHeard.remove();
  if (openSaid) cut(openSaid, "(interrupted)");
  partialHeard = openSaid = lastSaid = null;
  lastHeardTyped = false;
  const last = $("transcript").lastElementChild;
  if (last && !last.classList.contains("divider")) {
    const li = document.createElement("li");
    li.className = "divider";
    li.textContent = "call ended";
    $("transcript").append(li);
  }
}

function line(cls, who, text) {
  const li = document.createElement("li");
  li.className = cls;
  const w = document.createElement("span");
  w.className = "who";
  w.textContent = who + ":"; // read as "heard: ...", not "heardconvert ..."
  const t = document.createElement("span");
  t.className = "text";
  t.textContent = text;
  li.append(w, " ", t);
  $("transcript").append(li);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

// What the graph heard: the user's words, spoken (a recogniser's hypotheses, partial ones
// first) or typed (the echo of a line this page sent).
function onHeard(m) {
  const typed = m.final && confirmTyped(m.text);
  lastHeardTyped = typed;
  const who = typed ? "you (typed)" : "you";
  if (!partialHeard) partialHeard = line("heard partial" + (typed ? " typed" : ""), who, "");
  partialHeard.querySelector(".text").textContent = m.text;
  if (m.final) {
    partialHeard.classList.remove("partial");
    mt.heard.push(m.text);
    announce(who + ": " + m.text);
    partialHeard = null;
  }
}

// An interrupt stops what is being said: the reply still open, or the last one if its
// audio was still playing. It is struck through and marked, since the user did not hear
// all of it. ("the model corrects itself" is the front end retracting a reply.)
function onInterrupt(m) {
  const audibleAt = client ? client.replyAudio.audibleAt : -Infinity;
  const target = openSaid || (performance.now() - audibleAt < AUDIBLE_MS ? lastSaid : null);
  if (target && !target.classList.contains("cut")) {
    cut(target, /corrects itself/.test(m.text || "") ? "(retracted)" : "(interrupted)");
  }
  openSaid = null;
}

function cut(li, why) {
  li.classList.add("cut");
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.textContent = why;
  li.append(" ", mark);
}

function onSaid(m) {
  if (!openSaid) openSaid = lastSaid = line("said", "assistant", "");
  const t = openSaid.querySelector(".text");
  t.textContent = (t.textContent + m.text).replace(/\s+/g, " ");
  if (m.final) {
    mt.said.push(t.textContent.trim());
    announce("assistant: " + t.textContent.trim());
    openSaid = null;
  }
}

// -- meter and graph ----------------------------------------------------------------------

function showReaction(ms) {
  $("react").value = Math.min(1000, ms);
  $("react-ms").textContent = ms.toFixed(0) + " ms";
}

// A back end's answer is spoken long after the question that asked for it: its reaction
// time is the back end's latency, not the model's reaction, so it gets its own row. The
// reflex front end marks such replies with data.skill "backend" (and the request's id).
function isBackendAnswer(m) {
  return !!m.data && (m.data.skill === "backend" || m.data.request != null);
}

// Each action with a reaction time comes with a metrics message repeating it; that copy
// must not put a delegate's or a silence's reaction on the "last reply" meter.
let actionReaction = null;

// The graph's front end says, once at the start of a call, what it can do (an action of
// kind "skills"): each skill's example phrases become buttons that send them (as typed
// lines, leaving whatever the user has in the box alone).
function showSkills(skills) {
  mt.skills = skills;
  const list = $("suggestions").querySelector("ul");
  list.replaceChildren();
  for (const skill of skills) {
    for (const phrase of skill.examples || []) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = phrase;
      b.title = skill.name + ": click to send it, or say it";
      b.disabled = mt.state !== "connected";
      b.addEventListener("click", () => { if (mt.state === "connected") sendTyped(phrase); });
      li.append(b);
      list.append(li);
    }
  }
  $("suggestions").hidden = list.childElementCount === 0;
  if (mt.state === "connected") $("intro").textContent = INTRO.skills;
}

function onAction(m) {
  if (m.kind === "skills") {
    showSkills((m.data && m.data.skills) || []);
    return;
  }
  mt.actions.push(m);
  actionReaction = m.reaction_ms;
  // A reply to a typed line comes at once (the line arrives whole): its reaction time says
  // nothing of the model's, and would hide the last spoken one. It is not shown.
  if (m.kind === "speak" && m.reaction_ms != null && !lastHeardTyped) {
    if (isBackendAnswer(m)) {
      $("backend-ms").textContent = m.reaction_ms.toFixed(0) + " ms";
      $("backend-row").hidden = false;
    } else {
      showReaction(m.reaction_ms);
    }
  }
  if (m.kind === "interrupt") onInterrupt(m);
  // What the graph decided besides speaking is for the curious: shown with "details".
  if (m.kind !== "speak" && m.kind !== "silent") line("action detail", m.kind, m.text || "");
}

function onMetrics(m) {
  Object.assign(mt.metrics, Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)));
  if (m.tick_late_ms != null) {
    $("late").value = Math.min(200, m.tick_late_ms);
    $("late-ms").textContent = m.tick_late_ms.toFixed(1) + " ms";
    $("late-row").hidden = false;
  }
  // A graph's own meter may report a reaction time of its own (not a copy of an action's).
  if (m.reaction_ms != null && m.reaction_ms !== actionReaction) showReaction(m.reaction_ms);
  actionReaction = null;
  if (m.missed != null) {
    $("missed").textContent = m.missed;
    $("missed-row").hidden = false;
  }
}

// A call's meter and graph stay on screen after it ends, marked so, until the next one.
function resetMeters() {
  $("stats").classList.remove("ended");
  $("ended-mark").hidden = true;
  mt.metrics = {};
  mt.graph = null;
  actionReaction = null;
  for (const id of ["late", "react", "level"]) $(id).value = 0;
  for (const id of ["late-ms", "react-ms", "backend-ms", "missed"]) $(id).textContent = "–";
  for (const id of ["late-row", "backend-row", "missed-row"]) $(id).hidden = true;
  $("audio-s").textContent = "0.0 s spoken";
  $("graph-name").textContent = $("media-time").textContent = $("graph-name").title = "";
  $("edges").tBodies[0].replaceChildren();
}

function onGraph(g) {
  mt.graph = g;
  $("graph-name").textContent = g.name;
  $("media-time").textContent = (g.media_time_ms / 1000).toFixed(1) + " s";
  const body = $("edges").tBodies[0];
  body.replaceChildren(...g.edges.map((e) => {
    const tr = document.createElement("tr");
    const cell = (text, cls) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
      return td;
    };
    cell(e.name).title = e.policy;
    const d = cell("", "num");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = (3 * Math.min(1, e.depth / Math.max(1, e.capacity))) + "rem";
    d.append(bar, " " + e.depth + "/" + e.capacity);
    cell(e.carried, "num");
    cell(e.dropped, e.dropped ? "num drop" : "num");
    cell(e.flushed, "num");
    return tr;
  }));
}

// -- the call ----------------------------------------------------------------------------

const MEDIA_PROBLEMS = new Set(["insecure_context", "media_denied", "no_media_device",
                                "media_busy", "media_error"]);

function connect() {
  if (client) client.disconnect();
  resetMeters();
  const wantMic = $("mic").checked, wantCam = $("cam").checked;
  const c = client = new MicroturnClient({
    token: $("token").value.trim(), audio: wantMic, video: wantCam, audioElement: $("remote"),
  });
  const on = (type, handler) => c.addEventListener(type, (e) => { if (c === client) handler(e.detail); });
  on("state", ({ state }) => {
    // Connecting takes a few seconds (the graph sets up): the microphone is muted until
    // the server's hello, and the user is told to speak only then.
    if (state === "connecting") setStatus(state, "connecting…");
    if (state === "interrupted") {
      setStatus(state, "connection interrupted, waiting for it to come back...", "warn");
      restoreTyped("may not have been sent: the connection is interrupted; send again when it is back");
    }
    if (state === "connected") {
      mt.session = c.session;
      setStatus(state, wantMic ? "listening — speak now" : "connected — type to the assistant",
                "connected");
      // For the curious, on the graph's name: on the status it would be read out as the
      // status's name, before the state itself.
      $("graph-name").title = "session " + c.session;
      $("intro").textContent = mt.skills.length ? INTRO.skills : INTRO.plain;
      if (focusIsIdle()) $("text").focus();
    }
  });
  on("media", ({ stream }) => {
    if (wantCam) { $("preview").srcObject = stream; $("preview").hidden = false; }
  });
  on("heard", onHeard);
  on("said", onSaid);
  on("action", onAction);
  on("metrics", onMetrics);
  on("graph", (g) => { confirmTyped(null); onGraph(g); });
  on("audio", (a) => {
    $("level").value = a.level;
    $("audio-s").textContent = a.voiced.toFixed(1) + " s spoken";
  });
  on("error", (e) => showError(e.code + ": " + e.message));
  on("closed", (e) => {
    if (e.message) {
      let text = e.message;
      if (MEDIA_PROBLEMS.has(e.code)) text += wantMic ? " (or untick microphone to type only)"
                                                      : " (or untick camera)";
      // whatever ended it, the next step is the same: a new call
      if (e.code === "lost" || e.code === "closed") text += " \u2014 Connect to try again";
      // That the session closed, or the channel with it, follows whatever went wrong first.
      showError(text, { weak: e.code === "closed" || e.code === "lost" });
    }
    ended();
  });
  $("intro").textContent = INTRO.before;
  $("connect").disabled = true;
  $("disconnect").disabled = false; // cancels a connect that takes too long
  $("disconnect").focus();
  $("error").hidden = true;
  fitFooter();
  c.connect().catch(() => {}); // a failure arrives as "closed"
}

// The call is over (hung up, cancelled, closed by the server, or lost): back to the
// disconnected page; errors stay on screen.
function ended() {
  client = null;
  // Whatever waits in the box, or was said not to be sent yet, now waits for a new call.
  const unsent = "not sent: the connection ended \u2014 Connect to try again";
  restoreTyped(unsent);
  if ($("text").value.trim() || /^(not sent|may not have been sent|sending)/.test($("typed-note").textContent)) {
    $("typed-note").textContent = unsent;
    showTypedNote();
  }
  restored = []; // nothing of that call arrives any more
  restoredBox = null;
  mt.session = null;
  $("connect").disabled = false;
  $("disconnect").disabled = true;
  $("intro").textContent = INTRO.ended;
  if (focusIsIdle()) $("connect").focus();
  $("preview").hidden = true;
  resetTranscript();
  $("stats").classList.add("ended");
  $("level").value = 0; // nothing plays any more
  $("ended-mark").hidden = false;
  setStatus("disconnected", "disconnected");
}

// Focus that the user did not put anywhere useful (nowhere, or on a button that the
// connection just disabled or that is about to be) may be moved for them.
function focusIsIdle() {
  const a = document.activeElement;
  return !a || a === document.body || a.disabled || a.id === "connect" || a.id === "disconnect";
}

$("connect").addEventListener("click", connect);
$("disconnect").addEventListener("click", () => { if (client) client.disconnect(); });
// Typed lines sent but not yet confirmed: by their `heard` echo, or by the server still
// speaking a while after (a graph may not echo typed text). A line whose connection is
// interrupted or lost first goes back into the box, so that it is not lost with it. But a
// stalled server (or network) delivers it late: when its echo comes after all, it leaves
// the box again (unless the user edited it meanwhile), and the note with it, so that
// Enter does not do it twice.
let pending = [];        // [{text, at}]
let restored = [];       // lines put back in the box that may still arrive
let restoredBox = null;  // the box's value as restoreTyped left it
const CONFIRM_MS = 2500; // longer than the client's silence watchdog (2 s)

// With `text`, the echo of a typed line: is it one this page sent? Without, the server
// is speaking: lines sent long enough ago are taken as delivered.
function confirmTyped(text) {
  const note = $("typed-note");
  if (text == null) {
    const before = pending.length;
    pending = pending.filter((p) => performance.now() - p.at < CONFIRM_MS);
    if (before && !pending.length && note.textContent.startsWith("sending")) note.textContent = "";
    return false;
  }
  const i = pending.findIndex((p) => p.text === text);
  if (i >= 0) {
    pending.splice(i, 1);
    if (!pending.length && note.textContent.startsWith("sending")) note.textContent = "";
    return true;
  }
  const j = restored.indexOf(text);
  if (j < 0) return false;
  restored.splice(j, 1);
  const box = $("text");
  if (restoredBox === null) return true; // the user sent the box since: nothing to undo
  if (box.value === restoredBox) {
    box.value = restoredBox = box.value.replace(text, "").replace(/\s+/g, " ").trim();
    if (!restored.some((r) => box.value.includes(r))) note.textContent = "";
  } else {
    note.textContent = "sent after all: \u201c" + text + "\u201d";
  }
  return true;
}

// Sends a typed line (from the box, or a suggestion): false if it could not be sent.
function sendTyped(text) {
  if (!client || !client.send(text)) return false;
  pending.push({ text, at: performance.now() });
  const note = $("typed-note");
  if (!note.textContent || note.textContent.startsWith("sending")) note.textContent = "sending…";
  return true;
}

function restoreTyped(why) {
  if (!pending.length) return;
  const texts = pending.map((p) => p.text);
  pending = [];
  restored.push(...texts);
  const box = $("text").value.trim();
  $("text").value = restoredBox = [...texts, ...(box ? [box] : [])].join(" ");
  $("typed-note").textContent = why;
  showTypedNote();
}

$("typed").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  if (sendTyped(text)) {
    $("text").value = "";
    restoredBox = null;
    $("typed-note").textContent = "sending…";
  } else {
    // Keep what the user typed: they can send it once the connection is back.
    $("typed-note").textContent = client && client.state === "interrupted"
      ? "not sent: the connection is interrupted; send again when it is back"
      : "not sent: not connected";
  }
});
$("text").addEventListener("input", () => { $("typed-note").textContent = ""; });
const showDetails = () => $("transcript").classList.toggle("details", $("details").checked);
$("details").addEventListener("change", () => {
  showDetails();
  // The lines shown or hidden move the newest out of sight: bring it back.
  $("transcript").scrollTop = $("transcript").scrollHeight;
});
showDetails(); // a reload may restore the box ticked
