// microturn.js: a browser client of `microturn serve`, as an ES module with no globals and
// no dependence on the page (no element IDs): one RTCPeerConnection to a served graph,
// the microphone (and camera) up, the graph's voice down, and the "events" data channel
// both ways (docs/protocol.md). The API is described in docs/client.md.
//
//   import { MicroturnClient } from "/static/microturn.js";
//   const client = new MicroturnClient({ token, audio: true });
//   client.addEventListener("said", (e) => console.log(e.detail.text));
//   await client.connect();          // resolves on the server's hello
//   client.send("what is 12 times 7?");
//   client.disconnect();

export const PROTOCOL_VERSION = 1;

const SERVER_MESSAGES = new Set(["heard", "said", "action", "metrics", "graph"]);

export const ICE_HINT = "media could not connect (UDP blocked? see docs/server.md --ice-host)";

// An error with a `code` a program can act on, and a message a person can.
//   connect():  insecure_context, media_denied, no_media_device, media_busy, media_error,
//               unreachable, timeout, refused, unauthorized, full, ice, cancelled, lost
//   "closed":   the same, plus hangup (the client) and closed (the server said why)
export class MicroturnError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "MicroturnError";
    this.code = code;
  }
}

// Defaults; every one can be given to the constructor.
const DEFAULTS = {
  url: "",                 // the server's origin ("" or omitted: the page's own)
  token: "",               // sent as "Authorization: Bearer <token>" when set
  audio: true,             // send the microphone
  video: false,            // send the camera
  audioElement: null,      // plays the graph's voice; by default a detached <audio>
  onTrack: null,           // (track, event) => void, for every track the server sends
  offerTimeoutMs: 10000,   // POST /offer must answer within this
  mediaTimeoutMs: 15000,   // then ICE must connect within this (the server gives up at 10 s)
  iceGatherMs: 3000,       // the longest wait for ICE gathering before offering
  pingMs: 5000,            // keep-alive, so the server's idle timeout spares a quiet user
  statsMs: 250,            // how often the reply audio's statistics are read (0: never)
  silenceMs: 2000,         // the server sends its graph view every 500 ms: this long
                           // without any message, the call is "interrupted" (0: never)
};

export class MicroturnClient extends EventTarget {
  constructor(options = {}) {
    super();
    for (const key of Object.keys(options)) {
      if (!(key in DEFAULTS)) throw new TypeError("MicroturnClient: unknown option " + key);
    }
    Object.assign(this, DEFAULTS);
    for (const [key, value] of Object.entries(options)) if (value !== undefined) this[key] = value;
    this.url = String(this.url || "").replace(/\/+$/, "");
    this.state = "disconnected"; // connecting | connected | interrupted | disconnected
    this.session = null;         // the server's session id, once it answered the offer
    this.graph = null;           // the graph's name, from the server's hello
    this.localStream = null;     // the microphone/camera stream sent (for a preview)
    this.replyAudio = emptyAudio();
    this._call = null;
    // A tab closed (or navigated away) mid-call hangs up, rather than leave its session
    // running on the server until it notices the connection is gone (about 30 s).
    this._onPageHide = () => this.disconnect();
  }

  get pc() { return this._call ? this._call.pc : null; }
  get channel() { return this._call ? this._call.dc : null; }

  // Connects and resolves with {session, graph} on the server's hello (the graph is set
  // up: what the user says now reaches it). Rejects with a MicroturnError, and ends the
  // call, if it cannot; disconnect() (or `signal`) cancels it (code "cancelled").
  connect({ signal } = {}) {
    if (this._call) return Promise.reject(new Error("already " + this.state));
    const c = this._call = new Call();
    if (signal) {
      const cancel = () => this._end(c, "cancelled");
      if (signal.aborted) queueMicrotask(cancel);
      else {
        // The signal cancels the connect only: once connected (or failed), it is let go.
        signal.addEventListener("abort", cancel, { once: true });
        const forget = () => signal.removeEventListener("abort", cancel);
        c.ready.then(forget, forget);
      }
    }
    this.replyAudio = emptyAudio();
    this.graph = this.session = null;
    if (globalThis.addEventListener) globalThis.addEventListener("pagehide", this._onPageHide);
    this._setState("connecting");
    this._start(c).catch((err) => {
      if (err instanceof MicroturnError) this._end(c, err.code, err.message);
      else this._end(c, "refused", "could not connect: " + err.message);
    });
    return c.ready;
  }

  // Sends typed text; false (nothing sent) when there is no open, uninterrupted
  // connection, so that the caller can keep the text and say so.
  send(text) {
    const c = this._call;
    if (!c || this.state !== "connected" || c.dc.readyState !== "open") return false;
    c.dc.send(JSON.stringify({ v: PROTOCOL_VERSION, type: "text", text }));
    return true;
  }

  // Hangs up (or cancels a connect in progress). Idempotent.
  disconnect() {
    if (this._call) this._end(this._call, this._call.hello ? "hangup" : "cancelled");
  }

  // -- connecting ---------------------------------------------------------------------

  async _start(c) {
    const pc = c.pc = new RTCPeerConnection({ iceServers: [] });
    const dc = c.dc = pc.createDataChannel("events", { ordered: true });
    // Every handler checks that its call is still the current one: a late event of a
    // call already ended (its channel closing as the next call starts) changes nothing.
    dc.onmessage = (e) => { if (c === this._call) this._onMessage(c, e.data); };
    dc.onopen = () => { if (c === this._call) this._onOpen(c); };
    dc.onclose = () => { if (c === this._call) this._onChannelClose(c); };
    pc.onconnectionstatechange = () => { if (c === this._call) this._onConnectionState(c); };
    pc.ontrack = (e) => { if (c === this._call) this._onTrack(e); };
    if (this.audio || this.video) {
      const stream = await openMedia(this.audio, this.video);
      if (c !== this._call) { stopTracks(stream); return; }
      this.localStream = c.stream = stream;
      // The microphone is sent muted until the server's hello: what is said while the
      // graph still sets up (the ears loading) would be lost, so the user is told to
      // speak only then, and nothing before it counts.
      for (const t of stream.getAudioTracks()) t.enabled = false;
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      this._emit("media", { stream });
    }
    if (!this.audio) pc.addTransceiver("audio", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await iceComplete(pc, this.iceGatherMs);
    if (c !== this._call) return;
    c.token = this.token; // the call hangs up with the token it was made with
    const answer = await this._offer(c, pc.localDescription);
    if (c !== this._call) { // cancelled meanwhile: a session the server opened is hung up
      if (answer.session) this._hangUp(answer.session, c.token);
      return;
    }
    this.session = c.session = answer.session;
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    c.timers.push(setTimeout(() => {
      if (c !== this._call || c.hello) return;
      if (!c.connected) this._end(c, "ice", ICE_HINT);
      // Connected, but no hello: the graph did not start (a node's setup hangs).
      else this._end(c, "no_hello", "the server connected but its graph did not start");
    }, this.mediaTimeoutMs));
    if (this.statsMs > 0) c.timers.push(setInterval(() => this._pollAudio(c), this.statsMs));
  }

  async _offer(c, local) {
    const headers = { "Content-Type": "application/json" };
    if (c.token) headers.Authorization = "Bearer " + c.token;
    const abort = new AbortController();
    c.abortOffer = () => abort.abort();
    const timer = setTimeout(() => abort.abort(), this.offerTimeoutMs);
    let r, body = null;
    try {
      r = await fetch(base(this.url) + "/offer", {
        method: "POST", headers, signal: abort.signal,
        body: JSON.stringify({ sdp: local.sdp, type: local.type }),
      });
      body = await r.json().catch(() => null);
    } catch (err) {
      if (c !== this._call) return {};
      if (err.name === "AbortError") {
        throw new MicroturnError("timeout", "could not connect: the server did not answer within "
          + (this.offerTimeoutMs / 1000) + " s");
      }
      throw new MicroturnError("unreachable", "could not connect: cannot reach the server at "
        + (this.url || location.origin) + " (is it running?)");
    } finally {
      clearTimeout(timer);
      c.abortOffer = null;
    }
    if (r.ok && body && body.sdp) return body;
    const why = body && body.message ? body.message : r.statusText;
    if (r.status === 401) {
      throw new MicroturnError("unauthorized", c.token
        ? "could not connect: the server refused the token"
        : "could not connect: the server needs a token");
    }
    if (r.status === 503) {
      throw new MicroturnError("full", "could not connect: the server is full (" + why
        + "); try again in a few seconds");
    }
    throw new MicroturnError("refused", "could not connect: " + r.status + " " + why);
  }

  // -- the call -----------------------------------------------------------------------

  _onOpen(c) {
    c.timers.push(setInterval(() => {
      if (c.dc.readyState === "open") c.dc.send(JSON.stringify({ v: PROTOCOL_VERSION, type: "ping" }));
    }, this.pingMs));
    // A server that died (or a network gone) says nothing: ICE takes 5 s to notice and
    // 15 more to give up. The server speaks at least every 500 ms, so its silence tells
    // sooner: the call is interrupted (send() refuses) until a message comes again.
    if (this.silenceMs > 0) {
      c.timers.push(setInterval(() => {
        if (c.hello && !c.stalled && performance.now() - c.lastMessageAt > this.silenceMs) {
          c.stalled = true;
          this._showState(c);
        }
      }, Math.min(250, this.silenceMs / 4)));
    }
  }

  // The state that the call's flags say: interrupted while ICE is disconnected or the
  // server is silent; connected once it said hello.
  _showState(c) {
    this._setState(c.interrupted || c.stalled ? "interrupted" : c.hello ? "connected" : "connecting");
  }

  _onMessage(c, data) {
    c.lastMessageAt = performance.now();
    if (c.stalled) {
      c.stalled = false;
      this._showState(c);
    }
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m.type === "hello") {
      c.hello = true;
      if (c.stream) for (const t of c.stream.getAudioTracks()) t.enabled = true;
      this.session = m.session;
      this.graph = m.graph;
      this._showState(c);
      c.resolve({ session: m.session, graph: m.graph });
    } else if (m.type === "error" && m.code === "closed") {
      // The server ends the session (idle, shutdown, a failed node...) and says why first.
      c.closedByServer = true;
      this._end(c, "closed", "the server closed the session: "
        + String(m.message).replace(/^session closed: /, ""));
    } else if (m.type === "error") {
      this._emit("error", { code: m.code, message: m.message });
    } else if (SERVER_MESSAGES.has(m.type)) {
      this._emit(m.type, m);
    } // a newer server's message type: ignored, as the protocol's versioning rule asks
  }

  _onConnectionState(c) {
    switch (c.pc.connectionState) {
      case "connected":
        c.connected = true;
        if (c.interrupted) {
          c.interrupted = false;
          this._showState(c);
        }
        break;
      case "disconnected":
        // ICE may still recover (a network change, a stalled server): keep the call.
        c.interrupted = true;
        this._showState(c);
        break;
      case "failed":
        if (c.connected) this._end(c, "lost", "lost the connection to the server");
        else this._end(c, "ice", ICE_HINT);
        break;
    }
  }

  _onChannelClose(c) {
    // The server says `closed` before it closes the channel; a channel that closes
    // without it went away under us (a server that died, a network that dropped it).
    this._end(c, "lost", "lost the connection to the server (the event channel closed "
      + "without a word from it)");
  }

  _onTrack(e) {
    if (this.onTrack) this.onTrack(e.track, e);
    if (e.track.kind !== "audio") return;
    if (!this.audioElement && !this.onTrack) {
      this.audioElement = new Audio();
      this.audioElement.autoplay = true;
    }
    if (this.audioElement) {
      this.audioElement.srcObject = new MediaStream([e.track]);
      const played = this.audioElement.play && this.audioElement.play();
      if (played && played.catch) played.catch(() => {}); // autoplay refused: the page's call
    }
  }

  // The reply audio, from the receiver's statistics (no AudioContext needed).
  async _pollAudio(c) {
    const stats = await c.pc.getStats().catch(() => null);
    if (!stats || c !== this._call) return;
    stats.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
      const a = this.replyAudio, energy = s.totalAudioEnergy || 0;
      const seconds = s.totalSamplesDuration || 0;
      // Energy is level^2 x seconds: over a 250 ms poll, 1e-5 is a level of about 0.006.
      // The voice is a stream that plays silence between replies: only polls that heard
      // it count as spoken.
      if (energy - a.energy > 1e-5) {
        a.audibleAt = performance.now();
        a.voiced += Math.max(0, seconds - a.seconds);
      }
      a.energy = energy;
      a.level = s.audioLevel || 0;
      a.seconds = seconds;
      a.bytes = s.bytesReceived || 0;
    });
    this._emit("audio", this.replyAudio);
  }

  // -- ending -------------------------------------------------------------------------

  // Ends call `c` once, for `code` (hangup, cancelled, closed, lost, ice, or a connect
  // error's code): everything is released, `closed` is dispatched, and a connect() still
  // waiting is rejected.
  _end(c, code, message = null) {
    if (c !== this._call) return;
    this._call = null;
    if (globalThis.removeEventListener) globalThis.removeEventListener("pagehide", this._onPageHide);
    c.timers.forEach((t) => { clearTimeout(t); clearInterval(t); });
    if (c.abortOffer) c.abortOffer();
    stopTracks(c.stream);
    if (c.pc) c.pc.close();
    if (c.session && !c.closedByServer) this._hangUp(c.session, c.token);
    this.localStream = null;
    this.session = null;
    this._setState("disconnected");
    const byUser = code === "hangup" || code === "cancelled";
    if (!c.hello) {
      c.reject(new MicroturnError(code, message || (byUser ? "connect cancelled" : code)));
    }
    this._emit("closed", { code, message, by: causeOf(code),
      error: byUser ? null : new MicroturnError(code, message) });
  }

  _hangUp(session, token) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    // keepalive: the request outlives the page when it hangs up because the tab closes.
    fetch(base(this.url) + "/sessions/" + session, { method: "DELETE", headers, keepalive: true })
      .catch(() => {});
  }

  _setState(state) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this._emit("state", { state, previous });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

class Call {
  constructor() {
    this.pc = this.dc = this.stream = this.session = this.abortOffer = null;
    this.token = "";
    this.connected = this.interrupted = this.stalled = this.hello = this.closedByServer = false;
    this.lastMessageAt = -Infinity; // performance.now() of the server's last message
    this.timers = [];
    this.ready = new Promise((resolve, reject) => { this.resolve = resolve; this.reject = reject; });
    this.ready.catch(() => {}); // a caller that does not await connect() sees "closed"
  }
}

function emptyAudio() {
  return { seconds: 0, voiced: 0, energy: 0, level: 0, bytes: 0, audibleAt: -Infinity };
}

// Who ended a call: "client" (the user or the page: a hang-up, a cancel, media that could
// not be opened), "server" (it refused the offer or closed the session), or "network".
const BY_CLIENT = ["hangup", "cancelled", "insecure_context", "media_denied",
                   "no_media_device", "media_busy", "media_error"];
const BY_SERVER = ["closed", "unauthorized", "full", "refused", "no_hello"];

// The server's origin as given, without a trailing slash (it may be set after construction).
function base(url) {
  return String(url || "").replace(/\/+$/, "");
}

function causeOf(code) {
  return BY_CLIENT.includes(code) ? "client" : BY_SERVER.includes(code) ? "server" : "network";
}

function stopTracks(stream) {
  if (stream) stream.getTracks().forEach((t) => t.stop());
}

function iceComplete(pc, ms) {
  // The server does not trickle: it takes one offer with every candidate.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", changed);
      clearTimeout(timer);
      resolve();
    };
    const changed = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", changed);
    const timer = setTimeout(done, ms);
  });
}

// The microphone and/or camera, or a MicroturnError that says why not in words a user can
// act on (the page adds what to do instead, e.g. typing only).
export async function openMedia(audio, video) {
  const what = audio && video ? "the microphone and camera" : audio ? "the microphone" : "the camera";
  if (!globalThis.navigator || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    // Browsers offer media devices to secure pages only (https, or http on localhost).
    throw new MicroturnError("insecure_context", what + " needs https or localhost");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio, video });
  } catch (err) {
    switch (err.name) {
      case "NotAllowedError":
        throw new MicroturnError("media_denied", what + " was denied: allow it again from "
          + "the icon at the left of the address bar (site settings), then connect");
      case "NotFoundError":
        throw new MicroturnError("no_media_device", "no " + what.replace(/^the /, "")
          .replace(" and ", " or ") + " found");
      case "NotReadableError":
        throw new MicroturnError("media_busy", what + " could not be opened: is another "
          + "application using it?");
      default:
        throw new MicroturnError("media_error", "could not open " + what + ": " + err.message);
    }
  }
}
