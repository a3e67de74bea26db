/* The camera: the rear one where there is a choice, a frame every ~150 ms to the vendored
   jsQR decoder, and each code read handed to `onCode` — but a code that stays in view is
   handed on once: it must leave the picture for 2 s before it counts again. */
(function () {
  "use strict";

  var FRAME_MS = 150;
  var SAME_CODE_MS = 2000;
  var MAX_WIDTH = 640; // enough for a badge held at arm's length, and cheap to decode

  function Camera(video, onCode) {
    this.video = video;
    this.onCode = onCode;
    this.stream = null;
    this.timer = null;
    this.canvas = document.createElement("canvas");
    this.lastCode = null;
    this.lastSeen = 0;
  }

  /** Starts the camera; rejects with the browser's error (NotAllowedError, NotFoundError…). */
  Camera.prototype.start = function () {
    var self = this;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      var error = new Error("no camera API");
      error.name = "NotFoundError";
      return Promise.reject(error);
    }
    return navigator.mediaDevices
      .getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      })
      .then(function (stream) {
        self.stream = stream;
        self.video.srcObject = stream;
        return self.video.play();
      })
      .then(function () { self._tick(); });
  };

  Camera.prototype.stop = function () {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stream) this.stream.getTracks().forEach(function (track) { track.stop(); });
    this.stream = null;
    this.video.srcObject = null;
  };

  Camera.prototype.running = function () { return this.stream !== null; };

  Camera.prototype._tick = function () {
    var self = this;
    if (!this.stream) return;
    if (!document.hidden) this._decode();
    this.timer = setTimeout(function () { self._tick(); }, FRAME_MS);
  };

  Camera.prototype._decode = function () {
    var video = this.video;
    if (video.readyState < 2 || !video.videoWidth) return;
    var scale = Math.min(1, MAX_WIDTH / video.videoWidth);
    var width = Math.round(video.videoWidth * scale), height = Math.round(video.videoHeight * scale);
    this.canvas.width = width;
    this.canvas.height = height;
    var context = this.canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, width, height);
    var found = window.jsQR(context.getImageData(0, 0, width, height).data, width, height, {
      inversionAttempts: "dontInvert",
    });
    if (!found || !found.data) return;
    var now = Date.now(), code = found.data.trim();
    var same = code === this.lastCode && now - this.lastSeen < SAME_CODE_MS;
    this.lastSeen = now;
    if (same) return;
    this.lastCode = code;
    this.onCode(code);
  };

  /** Lets the same code count again at once (after signing out, say). */
  Camera.prototype.forget = function () { this.lastCode = null; };

  window.RollcallCamera = Camera;
})();
