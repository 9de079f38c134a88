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

function setStatus(text, cls) {
  mt.state = text;
  $("status").textContent = text;
  $("status").className = "status " + (cls || "");
}

function showError(text) {
  mt.errors.push(text);
  $("error").textContent = text;
  $("error").hidden = false;
}

function send(msg) {
  if (mt.dc && mt.dc.readyState === "open") mt.dc.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg }));
}

// -- transcript ---------------------------------------------------------------------------

let partialHeard = null; // <li> of the current partial hypothesis
let openSaid = null;     // <li> of the reply being said

function line(cls, who, text) {
  const li = document.createElement("li");
  li.className = cls;
  const w = document.createElement("span");
  w.className = "who";
  w.textContent = who;
  const t = document.createElement("span");
  t.className = "text";
  t.textContent = text;
  li.append(w, t);
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
    partialHeard = null;
  }
}

function onSaid(m) {
  if (!openSaid) openSaid = line("said", "said", "");
  const t = openSaid.querySelector(".text");
  t.textContent = (t.textContent + m.text).replace(/\s+/g, " ");
  if (m.final) {
    mt.said.push(t.textContent.trim());
    openSaid = null;
  }
}

// -- meter and graph ----------------------------------------------------------------------

function onMetrics(m) {
  Object.assign(mt.metrics, Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)));
  if (m.tick_late_ms != null) {
    $("late").value = Math.min(200, m.tick_late_ms);
    $("late-ms").textContent = m.tick_late_ms.toFixed(1) + " ms";
  }
  if (m.reaction_ms != null) {
    $("react").value = Math.min(1000, m.reaction_ms);
    $("react-ms").textContent = m.reaction_ms.toFixed(0) + " ms";
  }
  if (m.missed != null) $("missed").textContent = m.missed;
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

function onEvent(m) {
  switch (m.type) {
    case "hello": mt.session = m.session; setStatus("connected: " + m.graph, "connected"); break;
    case "heard": onHeard(m); break;
    case "said": onSaid(m); break;
    case "action":
      mt.actions.push(m);
      if (m.reaction_ms != null) onMetrics({ reaction_ms: m.reaction_ms });
      if (m.kind !== "speak" && m.kind !== "silent") line("action", m.kind, m.text || "");
      break;
    case "metrics": onMetrics(m); break;
    case "graph": onGraph(m); break;
    case "error": showError(m.code + ": " + m.message); break;
  }
}

// Received audio, from the receiver's statistics: no AudioContext needed.
async function pollAudio() {
  if (!mt.pc) return;
  const stats = await mt.pc.getStats();
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
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
  $("connect").disabled = true;
  $("error").hidden = true;
  setStatus("connecting");
  try {
    const pc = mt.pc = new RTCPeerConnection({ iceServers: [] });
    const dc = mt.dc = pc.createDataChannel("events", { ordered: true });
    dc.onmessage = (e) => onEvent(JSON.parse(e.data));
    dc.onopen = () => { $("text").disabled = false; $("send").disabled = false; };
    dc.onclose = () => disconnect();
    const wantMic = $("mic").checked, wantCam = $("cam").checked;
    if (wantMic || wantCam) {
      mt.stream = await navigator.mediaDevices.getUserMedia({ audio: wantMic, video: wantCam });
      for (const t of mt.stream.getTracks()) pc.addTrack(t, mt.stream);
      if (wantCam) { $("preview").srcObject = mt.stream; $("preview").hidden = false; }
    }
    if (!wantMic) pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (e) => { if (e.track.kind === "audio") $("remote").srcObject = new MediaStream([e.track]); };
    pc.onconnectionstatechange = () => {
      if (["failed", "closed"].includes(pc.connectionState)) disconnect();
    };
    await pc.setLocalDescription(await pc.createOffer());
    await iceComplete(pc);
    const headers = { "Content-Type": "application/json" };
    const token = $("token").value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch("/offer", {
      method: "POST", headers,
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(r.status + " " + (body.message || body.error));
    mt.session = body.session;
    await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
    mt.timers.push(setInterval(() => send({ type: "ping" }), PING_MS));
    mt.timers.push(setInterval(pollAudio, 250));
    $("disconnect").disabled = false;
  } catch (err) {
    showError("could not connect: " + err.message);
    await disconnect();
  }
}

async function disconnect() {
  mt.timers.forEach(clearInterval);
  mt.timers = [];
  if (mt.stream) mt.stream.getTracks().forEach((t) => t.stop());
  if (mt.pc) mt.pc.close();
  if (mt.session) {
    const token = $("token").value.trim();
    const headers = token ? { Authorization: "Bearer " + token } : {};
    fetch("/sessions/" + mt.session, { method: "DELETE", headers }).catch(() => {});
  }
  mt.pc = mt.dc = mt.stream = null;
  mt.session = null;
  $("connect").disabled = false;
  $("disconnect").disabled = true;
  $("text").disabled = true;
  $("send").disabled = true;
  $("preview").hidden = true;
  setStatus("disconnected");
}

$("connect").addEventListener("click", connect);
$("disconnect").addEventListener("click", disconnect);
$("typed").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  send({ type: "text", text });
  $("text").value = "";
});
