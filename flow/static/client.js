// microturn browser client: one RTCPeerConnection to the served graph, the microphone
// (and camera) up, the model's voice down, and the "events" data channel both ways
// (docs/protocol.md). Plain JS, no build step. State for tests: window.microturn.
"use strict";

const PROTOCOL_VERSION = 1;
const PING_MS = 5000;
const $ = (id) => document.getElementById(id);

const mt = window.microturn = {
  pc: null, dc: null, stream: null, session: null, state: "disconnected",
  heard: [], said: [], actions: [], errors: [],
  metrics: {}, graph: null,
  replyAudio: { seconds: 0, energy: 0, level: 0 },
  timers: [],
};

// The call in progress: every handler of a peer connection checks that its call is still
// the current one, so that a late event of a call already hung up (its channel closing a
// moment after the user called again) cannot tear down the next one.
let call = null;

function setStatus(text, cls) {
  mt.state = text;
  $("status").textContent = text;
  $("status").className = "status " + (cls || "");
}

// A consequence (the session closed, the channel closed) never hides the error that
// caused it: with `weak`, the message is recorded but shown only if nothing else is.
function showError(text, { weak = false } = {}) {
  mt.errors.push(text);
  if (weak && !$("error").hidden) return;
  $("error").textContent = text;
  $("error").hidden = false;
}

function send(msg) {
  if (!call || !call.dc || call.dc.readyState !== "open" || call.interrupted) return false;
  call.dc.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg }));
  return true;
}

// -- transcript ---------------------------------------------------------------------------

let partialHeard = null; // <li> of the current partial hypothesis
let openSaid = null;     // <li> of the reply being said
let lastSaid = null;     // <li> of the last reply
let audibleAt = -Infinity; // performance.now() when reply audio was last heard playing
const AUDIBLE_MS = 1000;

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
  audibleAt = -Infinity;
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

function onHeard(m) {
  if (!partialHeard) partialHeard = line("heard partial", "heard", "");
  partialHeard.querySelector(".text").textContent = m.text;
  if (m.final) {
    partialHeard.classList.remove("partial");
    mt.heard.push(m.text);
    announce("heard: " + m.text);
    partialHeard = null;
  }
}

// An interrupt stops what is being said: the reply still open, or the last one if its
// audio was still playing. It is struck through and marked, since the user did not hear
// all of it. ("the model corrects itself" is the front end retracting a reply.)
function onInterrupt(m) {
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
  if (!openSaid) openSaid = lastSaid = line("said", "said", "");
  const t = openSaid.querySelector(".text");
  t.textContent = (t.textContent + m.text).replace(/\s+/g, " ");
  if (m.final) {
    mt.said.push(t.textContent.trim());
    announce("said: " + t.textContent.trim());
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

function onAction(m) {
  mt.actions.push(m);
  actionReaction = m.reaction_ms;
  if (m.kind === "speak" && m.reaction_ms != null) {
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

function resetMeters() {
  mt.metrics = {};
  mt.graph = null;
  mt.replyAudio = { seconds: 0, energy: 0, level: 0 };
  actionReaction = null;
  for (const id of ["late", "react", "level"]) $(id).value = 0;
  for (const id of ["late-ms", "react-ms", "backend-ms", "missed"]) $(id).textContent = "–";
  for (const id of ["late-row", "backend-row", "missed-row"]) $(id).hidden = true;
  $("audio-s").textContent = "0.0 s";
  $("graph-name").textContent = $("media-time").textContent = "";
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

function onError(c, m) {
  if (m.code === "closed") {
    // The server ends the session (idle, shutdown, a failed node...) and says why first.
    c.closedByServer = m.message;
    showError("the server closed the session: " + m.message.replace(/^session closed: /, ""),
              { weak: true });
    end(c);
    return;
  }
  showError(m.code + ": " + m.message);
}

function onEvent(c, m) {
  switch (m.type) {
    case "hello":
      mt.session = m.session;
      c.graphName = m.graph;
      setStatus("connected: " + m.graph, "connected");
      break;
    case "heard": onHeard(m); break;
    case "said": onSaid(m); break;
    case "action": onAction(m); break;
    case "metrics": onMetrics(m); break;
    case "graph": onGraph(m); break;
    case "error": onError(c, m); break;
  }
}

// Received audio, from the receiver's statistics: no AudioContext needed.
async function pollAudio() {
  const pc = mt.pc;
  if (!pc) return;
  const stats = await pc.getStats().catch(() => null);
  if (!stats || pc !== mt.pc) return; // hung up meanwhile
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      // Energy is level^2 x seconds: over a 250 ms poll, 1e-5 is a level of about 0.006.
      if ((s.totalAudioEnergy || 0) - mt.replyAudio.energy > 1e-5) audibleAt = performance.now();
      mt.replyAudio.energy = s.totalAudioEnergy || 0;
      mt.replyAudio.level = s.audioLevel || 0;
      mt.replyAudio.seconds = s.totalSamplesDuration || 0;
      mt.replyAudio.bytes = s.bytesReceived || 0;
    }
  });
  $("level").value = mt.replyAudio.level;
  $("audio-s").textContent = mt.replyAudio.seconds.toFixed(1) + " s";
}

// -- connection ---------------------------------------------------------------------------

const ICE_HINT = "media could not connect (UDP blocked? see docs/server.md --ice-host)";

function onConnectionState(c) {
  if (c !== call) return;
  switch (c.pc.connectionState) {
    case "connected":
      c.connected = true;
      if (c.interrupted) {
        c.interrupted = false;
        setStatus(c.graphName ? "connected: " + c.graphName : "connecting",
                  c.graphName ? "connected" : "");
      }
      break;
    case "disconnected":
      // ICE may still recover (a network change, a stalled server): say so, keep the call.
      c.interrupted = true;
      setStatus("connection interrupted, waiting for it to come back...", "warn");
      break;
    case "failed":
      showError(c.connected ? "lost the connection to the server" : ICE_HINT);
      end(c);
      break;
  }
}

function onChannelClose(c) {
  if (c !== call) return;
  // The server says `closed` before it closes the channel; a channel that closes without
  // it went away under us (a server that died, a network that dropped the association).
  if (!c.closedByServer) showError("lost the connection to the server (the event channel "
                                   + "closed without a word from it)", { weak: true });
  end(c);
}

// Why the microphone (or camera) cannot be had, in words a user can act on.
class MediaProblem extends Error {}

async function openMedia(wantMic, wantCam) {
  const what = wantMic && wantCam ? "the microphone and camera" : wantMic ? "the microphone" : "the camera";
  const untick = wantMic ? "untick microphone to type only" : "untick camera";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    // Browsers offer media devices to secure pages only (https, or http on localhost).
    throw new MediaProblem(what + " needs https or localhost (or " + untick + ")");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: wantMic, video: wantCam });
  } catch (err) {
    switch (err.name) {
      case "NotAllowedError":
        throw new MediaProblem(what + " was denied: allow it again from the icon at the left "
          + "of the address bar (site settings), then Connect (or " + untick + ")");
      case "NotFoundError":
        throw new MediaProblem(wantMic && wantCam ? "no microphone or camera found (or "
          + untick + ")" : "no " + what.slice(4) + " found (or " + untick + ")");
      case "NotReadableError":
        throw new MediaProblem(what + " could not be opened: is another application using it? "
          + "(or " + untick + ")");
      default:
        throw new MediaProblem("could not open " + what + ": " + err.message + " (or " + untick + ")");
    }
  }
}

function iceComplete(pc) {
  // The server does not trickle: send one offer with every candidate.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000);
  });
}

async function connect() {
  if (call) end(call);
  const c = call = { pc: null, dc: null, stream: null, session: null, token: "",
                     connected: false, interrupted: false, closedByServer: null,
                     graphName: null, timers: [] };
  $("connect").disabled = true;
  $("disconnect").disabled = false; // cancels a connect that takes too long
  $("disconnect").focus();
  $("error").hidden = true;
  setStatus("connecting");
  try {
    const pc = mt.pc = c.pc = new RTCPeerConnection({ iceServers: [] });
    const dc = mt.dc = c.dc = pc.createDataChannel("events", { ordered: true });
    dc.onmessage = (e) => { if (c === call) onEvent(c, JSON.parse(e.data)); };
    dc.onopen = () => {
      if (c !== call) return;
      $("text").disabled = false;
      $("send").disabled = false;
      if (focusIsIdle()) $("text").focus();
    };
    dc.onclose = () => onChannelClose(c);
    pc.onconnectionstatechange = () => onConnectionState(c);
    const wantMic = $("mic").checked, wantCam = $("cam").checked;
    if (wantMic || wantCam) {
      c.stream = mt.stream = await openMedia(wantMic, wantCam);
      if (c !== call) { c.stream.getTracks().forEach((t) => t.stop()); return; }
      for (const t of c.stream.getTracks()) pc.addTrack(t, c.stream);
      if (wantCam) { $("preview").srcObject = c.stream; $("preview").hidden = false; }
    }
    if (!wantMic) pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (e) => { if (e.track.kind === "audio") $("remote").srcObject = new MediaStream([e.track]); };
    await pc.setLocalDescription(await pc.createOffer());
    await iceComplete(pc);
    if (c !== call) return;
    const headers = { "Content-Type": "application/json" };
    // The token this call was made with hangs it up too, whatever the field says later.
    c.token = $("token").value.trim();
    if (c.token) headers.Authorization = "Bearer " + c.token;
    const r = await fetch("/offer", {
      method: "POST", headers,
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(r.status + " " + (body.message || body.error));
    if (c !== call) { hangUp(body.session, c.token); return; }
    mt.session = c.session = body.session;
    await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
    c.timers.push(setInterval(() => send({ type: "ping" }), PING_MS));
    c.timers.push(setInterval(pollAudio, 250));
  } catch (err) {
    if (c !== call) return;
    showError(err instanceof MediaProblem ? err.message : "could not connect: " + err.message);
    end(c);
  }
}

function hangUp(session, token) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  fetch("/sessions/" + session, { method: "DELETE", headers }).catch(() => {});
}

// Ends call `c` (the user hung up, the server closed it, or the connection was lost) and
// puts the page back in its disconnected state. Errors stay on screen.
function end(c) {
  if (c !== call) return;
  call = null;
  c.timers.forEach(clearInterval);
  if (c.stream) c.stream.getTracks().forEach((t) => t.stop());
  if (c.pc) c.pc.close();
  if (c.session && !c.closedByServer) hangUp(c.session, c.token);
  mt.pc = mt.dc = mt.stream = null;
  mt.session = null;
  $("connect").disabled = false;
  $("disconnect").disabled = true;
  $("text").disabled = true;
  $("send").disabled = true;
  if (focusIsIdle()) $("connect").focus();
  $("preview").hidden = true;
  resetTranscript();
  resetMeters();
  setStatus("disconnected");
}

// Focus that the user did not put anywhere useful (nowhere, or on a button that the
// connection just disabled or that is about to be) may be moved for them.
function focusIsIdle() {
  const a = document.activeElement;
  return !a || a === document.body || a.disabled || a.id === "connect" || a.id === "disconnect";
}

function disconnect() {
  if (call) end(call);
}

$("connect").addEventListener("click", connect);
$("disconnect").addEventListener("click", disconnect);
$("typed").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  if (send({ type: "text", text })) {
    $("text").value = "";
    $("typed-note").textContent = "";
  } else {
    // Keep what the user typed: they can send it once the connection is back.
    $("typed-note").textContent = call && call.interrupted
      ? "not sent: the connection is interrupted; send again when it is back"
      : "not sent: not connected";
  }
});
$("text").addEventListener("input", () => { $("typed-note").textContent = ""; });
const showDetails = () => $("transcript").classList.toggle("details", $("details").checked);
$("details").addEventListener("change", showDetails);
showDetails(); // a reload may restore the box ticked
