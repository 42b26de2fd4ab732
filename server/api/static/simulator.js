// Chat simulator page: plays a WeChat user against the bot (server/api/simulator.py).
// Every user-visible word comes from the page's #ui-text block (server/api/templates/).
(function () {
  "use strict";

  var T = JSON.parse(document.getElementById("ui-text").textContent);
  var POLL_MS = 1500;
  var VISITOR_KEY = "wuye-simulator-visitor";
  var CURRENT_KEY = "wuye-simulator-identity";

  var $ = function (id) { return document.getElementById(id); };
  var picker = $("identity");
  var chat = $("chat");
  var input = $("text");

  var people = {};        // openid -> person (from /simulator/identities)
  var chats = {};         // openid -> {entries: [], cursor: 0, seen: {}}
  var fallbackCommunity = null;
  var current = "";
  var voiceMode = false;
  var polling = false;

  // ---- small DOM helpers ------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function chatOf(openid) {
    if (!chats[openid]) chats[openid] = { entries: [], cursor: 0, seen: {} };
    return chats[openid];
  }

  function nearBottom() {
    return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
  }

  function add(openid, entry) {
    chatOf(openid).entries.push(entry);
    if (openid === current) {
      var stick = nearBottom() || entry.side === "me";
      chat.appendChild(render(entry));
      if (stick) chat.scrollTop = chat.scrollHeight;
    }
  }

  function redraw() {
    chat.textContent = "";
    if (!current) {
      chat.appendChild(render({ side: "note", text: T.noIdentity }));
      return;
    }
    chatOf(current).entries.forEach(function (entry) { chat.appendChild(render(entry)); });
    chat.scrollTop = chat.scrollHeight;
  }

  // ---- rendering --------------------------------------------------------------------------

  function avatar(side) {
    var person = people[current];
    var letter = side === "me" ? (person ? person.name.charAt(0) : "?") : T.botName;
    return el("div", "avatar", letter);
  }

  function details(summary, body) {
    var box = el("details");
    box.appendChild(el("summary", "", summary));
    box.appendChild(el("pre", "", body));
    return box;
  }

  function render(entry) {
    if (entry.side === "note" || entry.side === "error") {
      var note = el("div", entry.side === "error" ? "note error" : "note");
      note.appendChild(el("span", "", entry.text));
      return note;
    }
    var row = el("div", "row " + entry.side);
    row.appendChild(avatar(entry.side));
    row.appendChild(entry.side === "card" ? card(entry.message) : bubble(entry));
    return row;
  }

  function bubble(entry) {
    var box = el("div", "bubble");
    if (entry.image) {
      var img = el("img");
      img.src = entry.image;
      img.alt = "";
      box.appendChild(img);
    } else if (entry.location) {
      box.appendChild(el("div", "loc-label", entry.location.label || T.locationBubble));
      box.appendChild(el("div", "loc-coords", entry.location.lat + ", " + entry.location.lng));
    } else {
      box.appendChild(document.createTextNode(entry.text));
    }
    if (entry.xml) box.appendChild(details(T.pushXml, entry.xml));
    if (entry.raw) box.appendChild(details(T.replyXml, entry.raw));
    return box;
  }

  function card(message) {
    var box = el("div", "card");
    if (message.channel === "custom") {
      box.className = "bubble";
      box.textContent = message.text || "[" + message.msgtype + "]";
      return box;
    }
    var title = T.kinds[message.kind] || message.kind || T.unknownKind;
    box.appendChild(el("div", "card-head", title));
    var sub = (T.channels[message.channel] || message.channel) + " · " +
      (message.kind || message.template_id) + " · " + clock(message.time);
    box.appendChild(el("div", "card-sub", sub));
    var list = el("dl");
    (message.fields || []).forEach(function (pair) {
      list.appendChild(el("dt", "", pair[0]));
      list.appendChild(el("dd", "", pair[1]));
    });
    box.appendChild(list);
    if (message.page) box.appendChild(el("div", "card-foot", T.page + message.page));
    if (message.channel === "sms") {
      box.appendChild(el("div", "card-foot", T.smsTo + message.phone + " · " + message.sign_name));
    }
    return box;
  }

  function clock(unixSeconds) {
    var d = new Date(unixSeconds * 1000);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function replyText(reply) {
    if (reply.MsgType === "text") return reply.Content || "";
    return "[" + reply.MsgType + "]";
  }

  // ---- identities -------------------------------------------------------------------------

  function visitorOpenid() {
    var openid = localStorage.getItem(VISITOR_KEY);
    if (!openid) {
      var bytes = new Uint8Array(11);
      crypto.getRandomValues(bytes);
      openid = "o_sim_" + Array.prototype.map.call(bytes, function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      }).join("");
      localStorage.setItem(VISITOR_KEY, openid);
    }
    return openid;
  }

  function describe(person) {
    var parts = [T.roles[person.role] || person.role];
    if (person.community) parts.push(person.community.name);
    if (person.room) parts.push(person.room);
    if (person.department) parts.push(person.department);
    if (person.phone) parts.push(person.phone);
    parts.push(person.openid);
    return parts.join(" · ");
  }

  function loadIdentities() {
    fetch("/simulator/identities").then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      picker.textContent = "";
      picker.appendChild(new Option(T.pick, ""));
      data.groups.forEach(function (group) {
        if (!group.people.length) return;
        var optgroup = el("optgroup");
        optgroup.label = T.groups[group.group] || group.group;
        group.people.forEach(function (person) {
          people[person.openid] = person;
          if (!fallbackCommunity && person.community) fallbackCommunity = person.community;
          var role = group.group === "residents" ? person.room : (T.roles[person.role] || "");
          var label = role ? person.name + " · " + role : person.name;
          optgroup.appendChild(new Option(label, person.openid));
        });
        picker.appendChild(optgroup);
      });
      var visitor = { openid: visitorOpenid(), name: T.visitor, role: "visitor", community: null };
      people[visitor.openid] = visitor;
      var visitors = el("optgroup");
      visitors.label = T.groups.visitors;
      visitors.appendChild(new Option(visitor.name, visitor.openid));
      picker.appendChild(visitors);
      var remembered = localStorage.getItem(CURRENT_KEY);
      if (remembered && people[remembered]) picker.value = remembered;
      choose(picker.value);
    }).catch(function (err) {
      picker.textContent = "";
      picker.appendChild(new Option(T.loadFailed + err.message, ""));
    });
  }

  function choose(openid) {
    current = openid;
    if (openid) localStorage.setItem(CURRENT_KEY, openid);
    var person = people[openid];
    $("who").textContent = person ? describe(person) : "";
    var community = (person && person.community) || fallbackCommunity;
    presetLocation(community, "centre");
    $("scene").value = community ? "community_" + community.code : "";
    redraw();
    poll();
  }

  function presetLocation(community, which) {
    if (!community) return;
    $("lat").value = community[which].lat;
    $("lng").value = community[which].lng;
    $("label").value = which === "centre" ? community.name : "";
  }

  // ---- sending ----------------------------------------------------------------------------

  function send(payload, mine) {
    if (!current) {
      redraw();  // shows "pick an identity first"
      return Promise.resolve();
    }
    var openid = current;
    payload.openid = openid;
    var entry = mine || null;
    return fetch("/simulator/send", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (result) {
      var data = result.data;
      if (!result.ok) {
        var message = data.error ? data.error.message : JSON.stringify(data);
        if (entry) add(openid, entry);
        add(openid, { side: "error", text: T.sendFailed + message });
        return;
      }
      if (entry) {
        entry.xml = data.push_xml;
        add(openid, entry);
      }
      if (data.status !== 200) {
        add(openid, { side: "error", text: T.status + data.status });
      } else if (data.reply) {
        add(openid, { side: "bot", text: replyText(data.reply),
                      raw: JSON.stringify(data.reply, null, 2) });
      } else {
        add(openid, { side: "note", text: T.noReply });
      }
      poll();
    }).catch(function (err) {
      add(openid, { side: "error", text: T.sendFailed + err.message });
    });
  }

  function sendText() {
    var content = input.value.trim();
    if (!content) return;
    input.value = "";
    var kind = voiceMode ? "voice" : "text";
    var shown = voiceMode ? T.voicePrefix + content : content;
    send({ kind: kind, content: content }, { side: "me", text: shown });
  }

  function sendLocation() {
    var lat = parseFloat($("lat").value);
    var lng = parseFloat($("lng").value);
    var label = $("label").value.trim();
    send({ kind: "location", lat: lat, lng: lng, label: label },
         { side: "me", location: { lat: lat, lng: lng, label: label } });
  }

  function sendImage(file) {
    var reader = new FileReader();
    reader.onload = function () {
      send({ kind: "image", image_base64: reader.result }, { side: "me", image: reader.result });
    };
    reader.onerror = function () { add(current, { side: "error", text: T.imageFailed }); };
    reader.readAsDataURL(file);
  }

  function sendFollow() {
    var scene = $("scene").value.trim();
    add(current, { side: "note", text: scene ? T.followedScene + scene : T.followed });
    send({ kind: "subscribe", scene: scene }, null);
  }

  // ---- what the emulators recorded (template / custom / subscribe messages, SMS) ----------

  function poll() {
    if (!current || polling) return;
    var openid = current;
    var state = chatOf(openid);
    polling = true;
    var url = "/simulator/messages?openid=" + encodeURIComponent(openid) +
      "&since=" + encodeURIComponent(state.cursor);
    fetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) return;
      data.messages.forEach(function (message) {
        if (state.seen[message.id]) return;
        state.seen[message.id] = true;
        add(openid, { side: "card", message: message });
      });
      state.cursor = Math.max(state.cursor, data.cursor);
    }).catch(function () { /* the next tick tries again */ }).then(function () {
      polling = false;
    });
  }

  // ---- wiring -----------------------------------------------------------------------------

  picker.addEventListener("change", function () { choose(picker.value); });
  $("show-xml").addEventListener("change", function (e) {
    document.body.classList.toggle("show-xml", e.target.checked);
  });
  $("send").addEventListener("click", sendText);
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.isComposing) sendText();
  });
  $("voice-mode").addEventListener("click", function () {
    voiceMode = !voiceMode;
    this.classList.toggle("active", voiceMode);
    input.placeholder = voiceMode ? T.voicePlaceholder : T.textPlaceholder;
    input.focus();
  });
  $("more").addEventListener("click", function () {
    var open = $("panel").classList.toggle("open");
    this.setAttribute("aria-expanded", String(open));
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-form]"), function (button) {
    button.addEventListener("click", function () {
      var form = $(button.getAttribute("data-form"));
      var wasOpen = form.classList.contains("open");
      Array.prototype.forEach.call(document.querySelectorAll(".form"), function (f) {
        f.classList.remove("open");
      });
      if (!wasOpen) form.classList.add("open");
    });
  });
  function communityNow() {
    var person = people[current];
    return (person && person.community) || fallbackCommunity;
  }
  $("preset-centre").addEventListener("click", function () {
    presetLocation(communityNow(), "centre");
  });
  $("preset-outside").addEventListener("click", function () {
    presetLocation(communityNow(), "outside");
  });
  $("send-location").addEventListener("click", sendLocation);
  $("pick-image").addEventListener("click", function () { $("image").click(); });
  $("image").addEventListener("change", function () {
    if (this.files && this.files[0]) sendImage(this.files[0]);
    this.value = "";
  });
  $("send-follow").addEventListener("click", sendFollow);

  setInterval(poll, POLL_MS);
  redraw();
  loadIdentities();
})();
