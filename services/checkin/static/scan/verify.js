/* Checking a badge on the device, for when the network is gone: the token's Ed25519
   signature with the event's public keys (WebCrypto), then the cached offline list (status,
   version, areas) and what this device saw itself (who it let in). The same rules as the
   server's (services/checkin/admission.py); the server judges every queued scan again when
   the device syncs. */
(function () {
  "use strict";

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  var TOKEN_LENGTH = 122;
  var CLAIM_BYTES = 12; // format, key id, event id (4), badge id (4), version (2)
  var SIGNATURE_BYTES = 64;
  var FORMAT = 1;

  function base32(text) {
    var out = [], bits = 0, value = 0;
    for (var i = 0; i < text.length; i++) {
      var index = ALPHABET.indexOf(text[i]);
      if (index < 0) return null;
      value = (value << 5) | index;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out.push((value >>> bits) & 0xff);
        value &= (1 << bits) - 1;
      }
    }
    // The spare bits of the last character are zero in the one spelling the signer made:
    // any other spelling is a changed token.
    if (value !== 0) return null;
    return new Uint8Array(out);
  }

  /** The claim a token makes (not yet verified), or null when it is no badge token. */
  function decodeToken(token) {
    var text = String(token || "").trim().toUpperCase();
    if (text.length !== TOKEN_LENGTH) return null;
    var raw = base32(text);
    if (!raw || raw.length !== CLAIM_BYTES + SIGNATURE_BYTES) return null;
    var view = new DataView(raw.buffer);
    return {
      format: view.getUint8(0),
      kid: view.getUint8(1),
      eventId: view.getUint32(2),
      badgeId: view.getUint32(6),
      version: view.getUint16(10),
      body: raw.slice(0, CLAIM_BYTES),
      signature: raw.slice(CLAIM_BYTES),
    };
  }

  function unbase64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var binary = atob(b64), out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  /** key id → [CryptoKey], from the offline list's `keys`; rejects when this browser has
      no Ed25519 in WebCrypto. */
  function importKeys(keys) {
    return Promise.all(
      (keys || []).map(function (key) {
        return crypto.subtle
          .importKey("raw", unbase64url(key.public_key), { name: "Ed25519" }, false, ["verify"])
          .then(function (imported) { return [key.kid, imported]; });
      })
    ).then(function (pairs) {
      var byKid = new Map();
      pairs.forEach(function (pair) {
        if (!byKid.has(pair[0])) byKid.set(pair[0], []);
        byKid.get(pair[0]).push(pair[1]);
      });
      return byKid;
    });
  }

  /** The verified claim, or null when the token is malformed or its signature fails. */
  function verify(keysByKid, token) {
    var claim = decodeToken(token);
    if (!claim || claim.format !== FORMAT || !keysByKid.has(claim.kid)) {
      return Promise.resolve(null);
    }
    var candidates = keysByKid.get(claim.kid);
    return candidates.reduce(function (found, key) {
      return found.then(function (done) {
        if (done) return done;
        return crypto.subtle
          .verify({ name: "Ed25519" }, key, claim.signature, claim.body)
          .then(function (ok) { return ok ? claim : null; });
      });
    }, Promise.resolve(null));
  }

  /** The gate's answer for a verified claim (or null: invalid), from the offline list and
      the device's own record of who is inside (`inside`: "badge:area" → {since, gate}).
      Returns {result, passes, badge, reason?, since?, gate?}; updates `inside`. */
  function judge(list, claim, direction, area, inside, gateName, now) {
    if (!claim) return { result: "invalid", passes: false };
    if (claim.eventId !== list.event_id) return { result: "wrong_event", passes: false };
    var badge = list.byId.get(claim.badgeId);
    if (!badge) return { result: "unknown", passes: false };
    if (claim.version < badge.version) {
      return { result: "revoked", passes: false, badge: badge, replaced: true };
    }
    if (badge.status !== "active") {
      return { result: "revoked", passes: false, badge: badge, reason: badge.reason };
    }
    var key = badge.id + ":" + area;
    if (direction === "out") {
      // Whether it came in through another gate is for the server to say at sync: an exit
      // is let through.
      delete inside[key];
      return { result: "exited", passes: true, badge: badge };
    }
    if ((badge.areas || []).indexOf(area) < 0) {
      return { result: "not_allowed_here", passes: false, badge: badge };
    }
    if (inside[key]) {
      var was = inside[key];
      return { result: "already_inside", passes: false, badge: badge, since: was.since, gate: was.gate };
    }
    inside[key] = { since: now, gate: gateName };
    return { result: "admitted", passes: true, badge: badge };
  }

  window.RollcallVerify = { decodeToken: decodeToken, importKeys: importKeys, verify: verify, judge: judge };
})();
